"""Trygg technician and developer tools (the `trygg` command)."""
