"""Pairing: register a device (id, role, room, key) and give it broker credentials.

The key is 32 random bytes shared with the device at provisioning (over the serial line, issue
6). It is stored in the hub database (mode 0600) and never printed or logged; the device's
broker password is derived from it (:func:`trygg.hub.broker.device_password`), so pairing
rewrites the broker's password and ACL files and nothing else has to travel.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from trygg.protocol import messages

from . import broker
from .config import HubConfig
from .store import Device, Store


class PairingError(ValueError):
    pass


def hub_password(config: HubConfig) -> str:
    """The hub's own broker password: read from ``mqtt.password_file``, created if missing."""
    if not config.mqtt.password_file:
        raise PairingError(f"{config.source}: mqtt.password_file: not set; the hub needs a "
                           "file for its broker password")
    path = Path(config.mqtt.password_file)
    if path.exists():
        return broker.read_secret(path)
    secret = broker.new_password()
    broker.write_secret(path, secret)
    return secret


def write_broker_files(config: HubConfig, store: Store) -> None:
    broker.write_broker_files(Path(config.broker.password_file), Path(config.broker.acl_file),
                              hub_password(config),
                              [(d.device_id, d.key) for d in store.devices()],
                              config.broker.group)


def pair_device(config: HubConfig, store: Store, device_id: str, role: str, room: str | None,
                key: bytes | None = None, resident_id: str | None = None,
                zone: int | None = None) -> tuple[Device, bytes]:
    """Register a device and rewrite the broker files. Returns (device, key)."""
    device_id = device_id.lower()
    if not broker.DEVICE_ID_RE.match(device_id):
        raise PairingError(f"device id {device_id!r}: must be 12 hex digits (the device's "
                           "6-byte id, e.g. a1b2c3d4e5f6)")
    if role not in messages.ROLES:
        raise PairingError(f"role {role!r}: one of {', '.join(messages.ROLES)}")
    if room is not None and not 1 <= len(room.encode()) <= 16:
        raise PairingError(f"room {room!r}: 1-16 bytes (the device stores it)")
    if resident_id is None:
        if len(config.residents) != 1:
            raise PairingError("several residents are configured: name one with --resident ("
                               + ", ".join(r.id for r in config.residents) + ")")
        resident_id = config.residents[0].id
    elif resident_id not in {r.id for r in config.residents}:
        raise PairingError(f"resident {resident_id!r} is not in {config.source} (residents: "
                           + ", ".join(r.id for r in config.residents) + ")")
    if zone is not None and not 1 <= zone <= 998:
        raise PairingError(f"zone {zone}: 1..998 (999 is the hub's own zone)")
    if key is None:
        key = secrets.token_bytes(32)
    elif len(key) != 32:
        raise PairingError(f"key: {len(key)} bytes, a device key is 32 bytes")
    if store.device(device_id) is not None:
        raise PairingError(f"device {device_id} is already paired (unpair it first)")
    device = store.add_device(device_id, key, role, room, resident_id, zone)
    write_broker_files(config, store)
    broker.reload_broker(Path(config.broker.pid_file))
    return device, key
