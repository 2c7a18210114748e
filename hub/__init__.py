"""Trygg hub: asyncio service on the Raspberry Pi that ingests, stores, rules on and forwards."""
