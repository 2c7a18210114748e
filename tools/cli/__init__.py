"""The ``trygg`` command: its entry point (main.py), the hub's and the centre link's subcommands."""
