"""mosquitto for Trygg: the configuration the hub writes, and its clients, roles and ACLs.

The broker's security is mosquitto 2's dynamic-security plugin (Debian ships it with the
``mosquitto`` package): clients, roles and ACLs live in the plugin's JSON file, and the hub
changes them with commands published to ``$CONTROL/dynamic-security/v1`` as its own broker user.
A change takes effect at once -- a deleted client, or one whose password changes, is
disconnected by the broker on the spot -- and the broker answers each command, so the hub knows
it happened. The alternative, password and ACL files re-read on SIGHUP, needs the right to
signal the broker's process, which the hub's user does not have on a Raspberry Pi (mosquitto
runs as its own user), gives no answer, and leaves an unpaired device's open connection alone.

Who may do what (mosquitto ACL check for every publish, subscription and delivery):

- a device logs in with its device id as user name, a password derived from its key
  (:func:`device_password`) and only with the client id ``trygg-<device id>`` (what the
  firmware uses): it publishes only to ``trygg/<id>/up`` and subscribes to and receives only
  ``trygg/<id>/down``. With the client id bound to the user, a device cannot take over the
  hub's session or another device's (MQTT 3.1.1 §3.1.4: a CONNECT with a client id in use ends
  the older connection);
- the hub reads every uplink, writes every downlink, and administers the plugin;
- everything else is refused (``defaultACLAccess``): ``$SYS``, ``$CONTROL``, other topics.

The rest of what a device could abuse is settled in :func:`broker_conf_text`.

The plugin's file holds PBKDF2-SHA512 hashes (what ``mosquitto_ctrl dynsec init`` writes),
made here with hashlib. mosquitto reads and rewrites it as its own user, so it and its folder
belong to the broker's group (``[broker] group``): mode 0660 in a folder of mode 2770 that the
hub's user owns. Nobody else can read it.
"""

from __future__ import annotations

import base64
import contextlib
import glob
import grp
import hashlib
import hmac
import json
import os
import re
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# mosquitto's defaults for dynamic-security passwords (mosquitto_ctrl dynsec init): 101 PBKDF2
# iterations, 12-byte salt. The passwords are 32 random bytes, so the iteration count is not what
# protects them.
PBKDF2_ITERATIONS = 101
SALT_BYTES = 12
HUB_USER = "trygg-hub"
DEVICE_ID_RE = re.compile(r"^[0-9a-f]{12}$")
HUB_ROLE = "trygg-hub"
ADMIN_ROLE = "trygg-admin"
DEVICE_ROLE_PREFIX = "trygg-device-"
DEVICE_TEXTNAME_PREFIX = "trygg device, key "
CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = CONTROL_TOPIC + "/response"
# The hub's pairing tools tell the running hub that devices changed (so new keys reach ingest at
# once); only the hub's user may publish or read it.
DEVICES_CHANGED_TOPIC = "trygg-hub/devices"
# mosquitto's count of messages it dropped (a client's queue full, QoS 0 to a busy client): the
# hub counts the increments, so a flood the broker absorbs still shows in `trygg hub rejections`.
BROKER_DROPPED_TOPIC = "$SYS/broker/publish/messages/dropped"
# A Trygg frame is at most 256 bytes (protocol/frame.py); any packet far larger is refused
# before it costs the broker memory (the broker disconnects its sender).
MAX_PACKET_SIZE = 1024
PLUGIN_GLOBS = ("/usr/lib/*/mosquitto_dynamic_security.so",
                "/usr/lib/mosquitto_dynamic_security.so",
                "/usr/local/lib/mosquitto_dynamic_security.so")


class BrokerError(RuntimeError):
    """The broker could not be reached or did not do what the hub asked; says what to do."""


# -- credentials ----------------------------------------------------------------------------


def new_password() -> str:
    return secrets.token_urlsafe(32)


def device_password(key: bytes) -> str:
    """The broker password of a device, derived from its 32-byte key (HKDF-like, one HMAC):
    provisioning writes one secret to the device, and the hub can give the broker the password
    again (``trygg hub broker``) without asking the device."""
    return base64.urlsafe_b64encode(
        hmac.new(key, b"trygg mqtt password v1", "sha256").digest()).decode().rstrip("=")


def device_client_id(device_id: str) -> str:
    """The only MQTT client id a device may use (firmware/mqtt.py uses this one)."""
    return f"trygg-{device_id}"


def device_role(device_id: str) -> str:
    return DEVICE_ROLE_PREFIX + device_id


def key_fingerprint(password: str) -> str:
    """What the broker keeps in a client's text name to tell which key it has: 8 bytes of a
    hash of the broker password, which reveal nothing of it (the plugin does not hand password
    hashes out), so ``trygg hub broker`` re-keys only clients whose key changed."""
    return hashlib.sha256(b"trygg broker key fingerprint v1" + password.encode()).hexdigest()[:16]


def device_textname(password: str) -> str:
    return DEVICE_TEXTNAME_PREFIX + key_fingerprint(password)


def password_fields(password: str, salt: bytes | None = None,
                    iterations: int = PBKDF2_ITERATIONS) -> dict[str, Any]:
    """A dynamic-security client's ``password``, ``salt`` and ``iterations`` (PBKDF2-SHA512,
    base64), as the plugin stores and checks them."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return {"password": base64.b64encode(digest).decode(),
            "salt": base64.b64encode(salt).decode(), "iterations": iterations}


def check_device_id(device_id: str) -> None:
    if not DEVICE_ID_RE.match(device_id):
        raise ValueError(f"device id {device_id!r} is not 12 lowercase hex digits")


# -- roles ----------------------------------------------------------------------------------


def _acl(acltype: str, topic: str) -> dict[str, Any]:
    return {"acltype": acltype, "topic": topic, "allow": True}


def hub_role_acls() -> list[dict[str, Any]]:
    return [
        _acl("subscribeLiteral", "trygg/+/up"), _acl("publishClientReceive", "trygg/+/up"),
        _acl("publishClientSend", "trygg/+/down"),
        _acl("subscribeLiteral", DEVICES_CHANGED_TOPIC),
        _acl("publishClientReceive", DEVICES_CHANGED_TOPIC),
        _acl("publishClientSend", DEVICES_CHANGED_TOPIC),
        _acl("subscribeLiteral", BROKER_DROPPED_TOPIC),
        _acl("publishClientReceive", BROKER_DROPPED_TOPIC),
    ]


def admin_role_acls() -> list[dict[str, Any]]:
    return [_acl("publishClientSend", CONTROL_TOPIC), _acl("subscribeLiteral", RESPONSE_TOPIC),
            _acl("publishClientReceive", RESPONSE_TOPIC)]


def device_role_acls(device_id: str) -> list[dict[str, Any]]:
    return [_acl("publishClientSend", f"trygg/{device_id}/up"),
            _acl("subscribeLiteral", f"trygg/{device_id}/down"),
            _acl("publishClientReceive", f"trygg/{device_id}/down")]


# Everything not granted by a role is refused, delivery included (the plugin's own default lets
# every client receive whatever it managed to subscribe to).
DEFAULT_ACL_ACCESS = {"publishClientSend": False, "publishClientReceive": False,
                      "subscribe": False, "unsubscribe": True}


def dynsec_document(hub_user: str, hub_password: str,
                    devices: Iterable[tuple[str, bytes]]) -> dict[str, Any]:
    """The plugin's whole state for the hub and the paired devices (id, key)."""
    clients: list[dict[str, Any]] = [{
        "username": hub_user, "textname": "trygg hub",
        "roles": [{"rolename": HUB_ROLE}, {"rolename": ADMIN_ROLE}],
        **password_fields(hub_password)}]
    roles: list[dict[str, Any]] = [{"rolename": HUB_ROLE, "acls": hub_role_acls()},
                                   {"rolename": ADMIN_ROLE, "acls": admin_role_acls()}]
    for device_id, key in sorted(devices):
        check_device_id(device_id)
        password = device_password(key)
        clients.append({"username": device_id, "clientid": device_client_id(device_id),
                        "textname": device_textname(password),
                        "roles": [{"rolename": device_role(device_id)}],
                        **password_fields(password)})
        roles.append({"rolename": device_role(device_id),
                      "acls": device_role_acls(device_id)})
    return {"clients": clients, "groups": [], "roles": roles,
            "defaultACLAccess": dict(DEFAULT_ACL_ACCESS)}


# -- files ----------------------------------------------------------------------------------


def atomic_write(path: Path, text: str, group: str | None = None,
                 group_mode: int = 0o640) -> None:
    """Replace ``path`` (write, fsync, rename): owner-only, or ``group_mode`` with ``group``
    when that group exists and is ours to give."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    mode = 0o600
    if group:
        try:
            os.chown(tmp, -1, grp.getgrnam(group).gr_gid)
            mode = group_mode
        except (KeyError, PermissionError):
            pass  # no such group here, or not ours to give: owner-only
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def write_dynsec_file(path: Path, hub_user: str, hub_password: str,
                      devices: Iterable[tuple[str, bytes]], group: str | None) -> None:
    """Seed the plugin's file; mosquitto reads it at start and rewrites it after each change,
    as its own user: group read-write."""
    text = json.dumps(dynsec_document(hub_user, hub_password, devices), indent=1) + "\n"
    atomic_write(path, text, group, 0o660)


def find_dynsec_plugin(configured: str = "") -> str:
    """The plugin's path: ``configured``, else Debian's (one folder per architecture)."""
    if configured:
        if not os.path.exists(configured):
            raise BrokerError(f"[broker] plugin: {configured} does not exist; install the "
                              "Debian package mosquitto (2.0 or later) or correct the path")
        return configured
    for pattern in PLUGIN_GLOBS:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    raise BrokerError("mosquitto's dynamic-security plugin (mosquitto_dynamic_security.so) is "
                      "not under /usr/lib: install the Debian package mosquitto (2.0 or later), "
                      "or set [broker] plugin to its path")


@dataclass(frozen=True)
class BrokerSettings:
    """What :func:`broker_conf_text` needs (from the hub's [mqtt] and [broker] sections)."""

    port: int
    listen_address: str
    dynsec_file: str
    plugin: str
    max_queued_messages: int
    session_expiry_days: float


def broker_conf_text(s: BrokerSettings, source: str = "the hub's configuration") -> str:
    """mosquitto.conf(5) lines for Trygg, to be included from mosquitto's conf.d.

    Each setting a device could abuse, decided:

    - client ids are bound to user names in the plugin (see the module docstring);
    - ``retain_available false``: neither the hub nor a device uses retained messages; a
      retained frame would be handed to the hub again at every subscribe, and the broker would
      keep it forever. A client that publishes one is disconnected;
    - will messages: a will is an ordinary publish checked against the ACL when it is sent, so
      a device's will can only reach its own uplink, where the hub verifies it like any frame;
    - persistent sessions: devices connect with a clean session; a device that asks for a
      persistent one gets one session at most (its one client id), holding at most
      ``max_queued_messages`` of its own downlink messages, removed after
      ``persistent_client_expiration``; unpairing ends it at once (the hub takes the client id
      over with a clean session);
    - ``$SYS`` and ``$CONTROL``: no device role grants them (the hub reads one ``$SYS`` count);
    - ``max_packet_size``: a frame is at most 256 bytes, anything over 1024 is refused.
    """
    address = f" {s.listen_address}" if s.listen_address else ""
    days = f"{s.session_expiry_days:g}d"
    where = "every interface (Wi-Fi)" if not s.listen_address else s.listen_address
    return f"""\
# Written by `trygg hub broker` from {source}: do not edit, it is rewritten.
# Include it from mosquitto's conf.d (see the hub's README, Install).
per_listener_settings false
# Listens on {where}; only the hub and paired devices can log in.
listener {s.port}{address}
allow_anonymous false
# Clients, roles and ACLs: the hub changes them at once over MQTT ($CONTROL), no reload.
plugin {s.plugin}
plugin_opt_config_file {s.dynsec_file}
# Nobody uses retained messages; a retained frame would be replayed to the hub forever.
retain_available false
# A Trygg frame is at most 256 bytes; refuse anything far larger before it costs memory.
max_packet_size {MAX_PACKET_SIZE}
# QoS 1 frames for the hub while it restarts (devices keep their own outbox as well); a
# persistent session nobody resumes is removed after {days}. Where mosquitto keeps them
# (mosquitto.db) is its main file's persistence_location, /var/lib/mosquitto/ on Debian:
# mosquitto started with this file alone would write it into its current folder.
persistence true
max_queued_messages {s.max_queued_messages}
persistent_client_expiration {days}
"""


# -- administration over MQTT --------------------------------------------------------------


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    rekeyed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{len(self.created)} added", f"{len(self.rekeyed)} re-keyed",
                 f"{len(self.removed)} removed", f"{len(self.unchanged)} unchanged"]
        return ", ".join(parts)


class BrokerAdmin:
    """The hub's administrative connection to the broker (synchronous: the CLI's pairing
    commands and ``trygg hub broker`` use it, not the running service).

    ``with BrokerAdmin(...) as admin: admin.call([...])`` publishes dynamic-security commands
    and waits for the broker's answer to each (matched by correlation data, since every admin
    client shares the response topic)."""

    def __init__(self, host: str, port: int, username: str, password: str,
                 timeout_s: float = 10.0) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.timeout_s = timeout_s
        self._client: Any = None
        self._responses: list[dict[str, Any]] = []
        self._subscribed = False

    def where(self) -> str:
        return f"the broker at {self.host}:{self.port}"

    def _connect(self, client_id: str, clean: bool = True) -> Any:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                             clean_session=clean)
        client.username_pw_set(self.username, self.password)
        state: dict[str, Any] = {}
        client.on_connect = lambda _c, _u, _f, rc, _p: state.setdefault("rc", rc)
        try:
            client.connect(self.host, self.port, keepalive=max(5, int(self.timeout_s) * 2))
        except OSError as exc:
            raise BrokerError(f"{self.where()} is not reachable ({exc.strerror or exc}): start "
                              "mosquitto (sudo systemctl start mosquitto) and try again") from None
        self._loop_until(client, lambda: "rc" in state, "no answer to CONNECT")
        rc = state["rc"]
        if rc.is_failure:
            client.disconnect()
            raise BrokerError(f"{self.where()} refused the hub's user {self.username!r} ({rc}): "
                              "is [mqtt] password_file the hub's? Has `trygg hub broker` run "
                              "and mosquitto been restarted since?")
        return client

    def _loop_until(self, client: Any, done: Any, what: str) -> None:
        import time

        deadline = time.monotonic() + self.timeout_s
        while not done():
            if time.monotonic() > deadline:
                with contextlib.suppress(Exception):
                    client.disconnect()
                raise BrokerError(f"{self.where()}: {what} within {self.timeout_s:g} s")
            client.loop(timeout=0.05)

    def __enter__(self) -> BrokerAdmin:
        client = self._connect(f"{self.username}-admin-{uuid.uuid4().hex[:8]}")
        client.on_message = lambda _c, _u, m: self._responses.append(_decode(m.payload))
        granted: list[Any] = []
        client.on_subscribe = lambda _c, _u, _m, codes, _p: granted.extend(codes)
        client.subscribe(RESPONSE_TOPIC, qos=1)
        self._client = client
        self._loop_until(client, lambda: bool(granted), "no answer to SUBSCRIBE")
        if granted[0].is_failure:
            self.close()
            raise BrokerError(f"{self.where()} does not let {self.username!r} administer it: "
                              "mosquitto runs without Trygg's dynamic-security configuration. "
                              "Run `trygg hub broker` and restart mosquitto "
                              "(sudo systemctl restart mosquitto)")
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.disconnect()

    def call(self, commands: Sequence[dict[str, Any]],
             tolerate: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """Send ``commands`` in one message; return the broker's responses in order. A response
        with an error raises :class:`BrokerError` unless its text is in ``tolerate``."""
        if not commands:
            return []
        client = self._client
        if client is None:
            raise BrokerError("BrokerAdmin used outside its `with` block")
        tag = uuid.uuid4().hex
        sent = [dict(c, correlationData=f"{tag}-{i}") for i, c in enumerate(commands)]
        info = client.publish(CONTROL_TOPIC, json.dumps({"commands": sent}), qos=1)
        found: list[dict[str, Any]] = []

        def answered() -> bool:
            for doc in self._responses:
                rs = doc.get("responses") if isinstance(doc, dict) else None
                if isinstance(rs, list) and rs and isinstance(rs[0], dict) and str(
                        rs[0].get("correlationData", "")).startswith(tag):
                    found.extend(rs)
                    return True
            return False

        self._loop_until(client, lambda: info.is_published() and answered(),
                         "no answer to the dynamic-security commands (is the plugin loaded? "
                         "run `trygg hub broker` and restart mosquitto)")
        self._responses.clear()
        for command, response in zip(sent, found, strict=False):
            error = response.get("error")
            if error and error not in tolerate:
                raise BrokerError(f"{self.where()}: {command['command']} "
                                  f"{command.get('username') or command.get('rolename') or ''}"
                                  f" failed: {error}")
        return found

    def end_session(self, client_id: str) -> None:
        """End whatever session the broker keeps for ``client_id``: connect with that id and a
        clean session (which discards the stored one, MQTT 3.1.1 §3.1.2.4), then leave."""
        client = self._connect(client_id, clean=True)
        client.disconnect()

    def notify_devices_changed(self) -> None:
        """Tell a running hub to reload its devices now (its 15 s tick would, later)."""
        client = self._client
        if client is None:
            raise BrokerError("BrokerAdmin used outside its `with` block")
        info = client.publish(DEVICES_CHANGED_TOPIC, b"", qos=1)
        self._loop_until(client, info.is_published, "no PUBACK for the devices notice")

    # -- the desired state --------------------------------------------------------------

    def clients(self) -> dict[str, dict[str, Any]]:
        data = self.call([{"command": "listClients", "verbose": True}])[0].get("data", {})
        return {c["username"]: c for c in data.get("clients", []) if "username" in c}

    def roles(self) -> set[str]:
        data = self.call([{"command": "listRoles"}])[0].get("data", {})
        return {r if isinstance(r, str) else r.get("rolename", "") for r in data.get("roles", [])}

    def sync_devices(self, devices: Iterable[tuple[str, bytes]],
                     only: set[str] | None = None) -> SyncReport:
        """Make the broker's device clients those of ``devices`` (id, key): add, re-key (which
        disconnects a client logged in with the old key) and remove (which disconnects it and
        ends its session). ``only``: touch just these device ids. Verified afterwards."""
        want = {d: device_password(k) for d, k in devices}
        have = self.clients()
        roles = self.roles()
        report = SyncReport()
        commands: list[dict[str, Any]] = []
        for device_id, password in sorted(want.items()):
            if only is not None and device_id not in only:
                continue
            check_device_id(device_id)
            role = device_role(device_id)
            if role not in roles:
                commands.append({"command": "createRole", "rolename": role,
                                 "acls": device_role_acls(device_id)})
            client = have.get(device_id)
            if client is None:
                commands.append({"command": "createClient", "username": device_id,
                                 "password": password, "clientid": device_client_id(device_id),
                                 "textname": device_textname(password),
                                 "roles": [{"rolename": role}]})
                report.created.append(device_id)
            elif (client.get("textname") != device_textname(password)
                  or client.get("clientid") != device_client_id(device_id)
                  or role not in {r.get("rolename") for r in client.get("roles", [])}):
                commands += [
                    {"command": "setClientPassword", "username": device_id,
                     "password": password},
                    {"command": "modifyClient", "username": device_id,
                     "clientid": device_client_id(device_id),
                     "textname": device_textname(password), "roles": [{"rolename": role}]}]
                report.rekeyed.append(device_id)
            else:
                report.unchanged.append(device_id)
        for username in sorted(have):
            if username in want or not DEVICE_ID_RE.match(username):
                continue
            if only is not None and username not in only:
                continue
            commands += [{"command": "deleteClient", "username": username},
                         {"command": "deleteRole", "rolename": device_role(username)}]
            report.removed.append(username)
        self.call(commands, tolerate=("Role not found",))
        for device_id in report.rekeyed + report.removed:
            self.end_session(device_client_id(device_id))
        self._verify(want, only)
        return report

    def _verify(self, want: dict[str, str], only: set[str] | None) -> None:
        have = self.clients()
        for device_id, password in want.items():
            if only is not None and device_id not in only:
                continue
            client = have.get(device_id)
            if client is None or client.get("textname") != device_textname(password):
                raise BrokerError(f"{self.where()}: device {device_id} is not there with its "
                                  "key after the change; run `trygg hub broker` again")
        for username in have:
            if DEVICE_ID_RE.match(username) and username not in want and (
                    only is None or username in only):
                raise BrokerError(f"{self.where()}: device {username} can still log in after "
                                  "being removed; run `trygg hub broker` again")


def _decode(payload: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(payload)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def read_secret(path: Path) -> str:
    return path.read_text().strip()


def write_secret(path: Path, secret: str) -> None:
    atomic_write(path, secret + "\n")
