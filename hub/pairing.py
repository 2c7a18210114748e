"""Pairing: register a device (id, role, room, key) and give it broker credentials at once.

The key is 32 random bytes shared with the device at provisioning (over the serial line). It is
stored in the hub database (mode 0600) and never printed or logged; the device's broker password
is derived from it (:func:`trygg.hub.broker.device_password`).

The broker is told first, over MQTT as the hub tools' own broker login (mosquitto's
dynamic-security plugin, see :mod:`trygg.hub.broker`; not the hub service's login, whose client
id only the running hub uses), and answers; only then does the hub's database change, and then
the running hub is told to reload its devices. So a paired device can log in and is verified at
once, an unpaired one is disconnected at once, and if the broker is down nothing changes and the
error says what to do.
"""

from __future__ import annotations

import contextlib
import secrets
from pathlib import Path

from trygg.protocol import messages

from . import broker
from .config import HubConfig
from .store import Device, Store


class PairingError(ValueError):
    pass


def hub_password(config: HubConfig, *, create: bool = False) -> str:
    """The hub's own broker password, read from ``mqtt.password_file``. Only the first
    ``trygg hub broker`` (``create``) writes it: anything else finding it missing would make up
    a password the broker has never heard of, and a mistyped path would look like that."""
    if not config.mqtt.password_file:
        raise PairingError(f"{config.source}: mqtt.password_file: not set; the hub needs a "
                           "file for its broker password")
    path = Path(config.mqtt.password_file)
    try:
        return broker.read_secret(path)
    except FileNotFoundError:
        if not create:
            raise PairingError(
                f"{config.source}: [mqtt] password_file: {path} does not exist. Check the "
                "path for a typo; on a new hub, run `trygg hub broker --config "
                f"{config.source}` first (it writes the file)") from None
    except OSError as exc:
        raise PairingError(f"{config.source}: [mqtt] password_file: cannot read {path}: "
                           f"{exc.strerror}; run as the hub's user") from None
    secret = broker.new_password()
    broker.write_secret(path, secret)
    return secret


def hub_logins(config: HubConfig) -> broker.HubLogins:
    return broker.HubLogins(config.mqtt.username, hub_password(config), config.hub_id)


def admin_lock_path(config: HubConfig) -> Path:
    """Held while a tool administers the broker (one admin connection at a time)."""
    return Path(f"{config.database}.broker-admin.lock")


def broker_admin(config: HubConfig) -> broker.BrokerAdmin:
    """The tools' administrative connection: the admin login, its one client id."""
    hub = hub_logins(config)
    return broker.BrokerAdmin(config.mqtt.host, config.mqtt.port, hub.admin_user,
                              hub.admin_password, config.broker.admin_timeout_s,
                              client_id=hub.admin_client_id, lock_path=admin_lock_path(config))


def _legacy_admin(config: HubConfig) -> broker.BrokerAdmin:
    """The hub service's own login with a client id of its choice: how the tools administered a
    broker set up before they had a login of their own (it still has the admin role there)."""
    hub = hub_logins(config)
    return broker.BrokerAdmin(config.mqtt.host, config.mqtt.port, hub.user, hub.password,
                              config.broker.admin_timeout_s, lock_path=admin_lock_path(config))


def broker_settings(config: HubConfig) -> broker.BrokerSettings:
    b = config.broker
    return broker.BrokerSettings(
        port=config.mqtt.port, listen_address=b.listen_address, dynsec_file=b.dynsec_file,
        plugin=broker.find_dynsec_plugin(b.plugin), max_queued_messages=b.max_queued_messages,
        session_expiry_days=b.session_expiry_days)


def _device_keys(store: Store) -> list[tuple[str, bytes]]:
    return [(d.device_id, d.key) for d in store.devices()]


def _tell_broker(config: HubConfig, devices: list[tuple[str, bytes]], only: set[str],
                 what: str) -> None:
    try:
        with broker_admin(config) as admin:
            admin.sync_devices(devices, only)
    except broker.BrokerError as exc:
        raise PairingError(f"{what}: {exc}; nothing was changed") from None


def _notify_hub(config: HubConfig) -> None:
    """Tell a running hub to reload its devices; it reloads at its next tick anyway."""
    with contextlib.suppress(broker.BrokerError, PairingError), broker_admin(config) as admin:
        admin.notify_devices_changed()


def check_pairing(config: HubConfig, device_id: str, role: str, room: str | None,
                  resident_id: str | None, zone: int | None) -> str:
    """What :func:`pair_device` checks before it changes anything; returns the resident id.
    Provisioning calls it before it touches the board."""
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
    return resident_id


def pair_device(config: HubConfig, store: Store, device_id: str, role: str, room: str | None,
                key: bytes | None = None, resident_id: str | None = None,
                zone: int | None = None, *, replace: bool = False) -> tuple[Device, bytes]:
    """Register a device: the broker first (it can log in at once), then the hub's database,
    then the running hub. Returns (device, key). PairingError names what is wrong.

    ``replace``: the device may be paired already (provisioning it again): it gets the new key
    and what it is now, keeping its zone and resident unless given and its history (last seen,
    health) -- in the broker first, which disconnects the old key, then in the database. If the
    broker is down, nothing changes anywhere."""
    device_id = device_id.lower()
    old = store.device(device_id)
    if old is not None and not replace:
        raise PairingError(f"device {device_id} is already paired (unpair it first)")
    if old is not None:
        zone = zone or old.zone
        resident_id = resident_id or old.resident_id
    resident_id = check_pairing(config, device_id, role, room, resident_id, zone)
    if key is None:
        key = secrets.token_bytes(32)
    elif len(key) != 32:
        raise PairingError(f"key: {len(key)} bytes, a device key is 32 bytes")
    taken = {d.zone: d.device_id for d in store.devices()}
    if zone is not None and taken.get(zone, device_id) != device_id:
        raise PairingError(f"zone {zone} is device {taken[zone]}'s; choose another or leave "
                           "--zone out for the next free one")
    others = [d for d in _device_keys(store) if d[0] != device_id]
    _tell_broker(config, [*others, (device_id, key)], {device_id},
                 f"{'re-keying' if old else 'pairing'} {device_id}")
    try:
        if old is None:
            device = store.add_device(device_id, key, role, room, resident_id, zone)
        else:
            assert zone is not None
            device = store.rekey_device(device_id, key, role, room, resident_id, zone)
    except Exception:
        # The broker knows a key the hub does not: give it back the hub's view.
        with contextlib.suppress(PairingError):
            _tell_broker(config, _device_keys(store), {device_id}, f"undoing {device_id}")
        raise
    _notify_hub(config)
    return device, key


def unpair_device(config: HubConfig, store: Store, device_id: str) -> None:
    """Remove a device: its broker login and session end at once, then the hub forgets it."""
    device_id = device_id.lower()
    if store.device(device_id) is None:
        raise PairingError(f"device {device_id} is not paired")
    _tell_broker(config, [d for d in _device_keys(store) if d[0] != device_id], {device_id},
                 f"unpairing {device_id}")
    store.remove_device(device_id)
    _notify_hub(config)


def write_broker_config(config: HubConfig) -> Path:
    """Write mosquitto's configuration for Trygg ([broker] conf_file)."""
    path = Path(config.broker.conf_file)
    text = broker.broker_conf_text(broker_settings(config), config.source)
    try:
        broker.atomic_write(path, text, config.broker.group, 0o640)
    except OSError as exc:
        raise PairingError(f"[broker] conf_file: cannot write {path}: {exc.strerror}; the "
                           "folder must belong to the hub's user (README, Install)") from None
    return path


def setup_broker(config: HubConfig, store: Store) -> tuple[str, broker.SyncReport | None]:
    """``trygg hub broker``: write the configuration, then give a running broker the paired
    devices (verified), or seed the plugin's file for the broker's next start.

    Returns (what was done and what to do next, the sync report if the broker took it)."""
    # The hub's password is made only at the first setup, before the broker has ever been
    # given a hub user: later, a missing file is a mistyped path or a lost secret, and a new
    # password would lock the hub out of a broker that keeps the old one.
    dynsec = Path(config.broker.dynsec_file)
    try:
        hub_password(config, create=not dynsec.exists())
    except PairingError as exc:
        raise PairingError(f"{exc}. The broker already has Trygg's logins ({dynsec}); if the "
                           "hub's password is lost, remove that file and restart mosquitto, "
                           "then run `trygg hub broker` again") from None
    conf = write_broker_config(config)
    devices = _device_keys(store)
    hub = hub_logins(config)
    hub_changes: list[str] = []
    try:
        try:
            with broker_admin(config) as admin:
                pass
        except broker.BrokerRefused:
            # A broker set up before the tools had a login of their own: the service's login
            # still administers it, once, to add the tools' login.
            with _legacy_admin(config) as admin:
                hub_changes += admin.sync_hub(hub, service=False)
        with broker_admin(config) as admin:
            hub_changes += admin.sync_hub(hub)
            report = admin.sync_devices(devices)
            admin.notify_devices_changed()
    except broker.BrokerError as exc:
        path = Path(config.broker.dynsec_file)
        try:
            broker.write_dynsec_file(path, hub, devices, config.broker.group)
        except OSError as err:
            raise PairingError(f"[broker] dynsec_file: cannot write {path}: {err.strerror}; "
                               "the folder must belong to the hub's user, group "
                               f"{config.broker.group}, mode 2770 (README, Install)") from None
        return (f"wrote {conf} and {path} ({len(devices)} device(s)); the broker did not take "
                f"them now ({exc}). They apply when mosquitto (re)starts: "
                "sudo systemctl restart mosquitto"), None
    removed = []
    for legacy in (config.broker.password_file, config.broker.acl_file):
        if legacy and Path(legacy).exists():
            with contextlib.suppress(OSError):
                Path(legacy).unlink()
                removed.append(legacy)
    note = f"; removed the old {', '.join(removed)}" if removed else ""
    if hub_changes:
        note += f"; set up the hub's {', '.join(hub_changes)}"
    return (f"wrote {conf}; the broker at {config.mqtt.host}:{config.mqtt.port} has the hub and "
            f"{len(devices)} device(s) ({report.summary()}){note}"), report
