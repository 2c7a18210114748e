"""Tests of hub/: ingest, store, rules, alarm life cycle, broker files, service; against a real
mosquitto and SQLite. Shared helpers: support/hub.py (configs, pairing, a hub process)."""
