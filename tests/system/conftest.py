"""Whole-system tests: a device's event through broker, hub, rules and forwarder to a receiving
centre, and the simulated-home demo as a newcomer runs it."""
