"""mosquitto for Trygg: the configuration the hub writes, and its clients, roles and ACLs.

The broker's security is mosquitto 2's dynamic-security plugin (Debian ships it with the
``mosquitto`` package): clients, roles and ACLs live in the plugin's JSON file, and the hub
changes them with commands published to ``$CONTROL/dynamic-security/v1`` as its tools' login.
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
- the hub's service logs in as ``[mqtt] username`` and only with the client id
  ``trygg-hub-<hub id>`` (:func:`hub_client_id`): it reads every uplink and writes every
  downlink, and cannot administer the broker;
- the hub's tools (pairing, ``trygg hub broker``, ``trygg hub doctor``) log in as a user of their
  own, ``<username>-admin``, and only with the client id ``trygg-admin-<hub id>``: they
  administer the plugin and tell the running hub that devices changed, and read no frames.
  One admin connection at a time (a lock next to the hub's database): they would take each
  other's client id over.

So no login but the hub service's can use the hub's client id, and the hub service's login can
use no other: neither a device's stolen key nor the tools running beside the hub can end or take
the hub's session (with its queued frames), and the broker's log names which is which. Both
broker passwords come from the hub's one secret file (the admin one derived, see
:func:`admin_password`), so whoever can read that file is the hub; the separation is about
client ids, not a second secret.
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
import fcntl
import glob
import grp
import hashlib
import hmac
import json
import os
import re
import secrets
import time
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
ADMIN_USER_SUFFIX = "-admin"
DEVICE_ID_RE = re.compile(r"^[0-9a-f]{12}$")
HUB_ROLE = "trygg-hub"
ADMIN_ROLE = "trygg-hub-tools"
# The role the hub's own login had for administering, before its tools had a login of their own.
LEGACY_ADMIN_ROLE = "trygg-admin"
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
# A dynamic-security message's payload, leaving room in MAX_PACKET_SIZE for the PUBLISH header
# and the topic (MQTT 3.1.1 §3.3: at most 5 + 2 + 31 + 2 bytes here).
CONTROL_PAYLOAD_MAX = MAX_PACKET_SIZE - 64
PLUGIN_GLOBS = ("/usr/lib/*/mosquitto_dynamic_security.so",
                "/usr/lib/mosquitto_dynamic_security.so",
                "/usr/local/lib/mosquitto_dynamic_security.so")


class BrokerError(RuntimeError):
    """The broker could not be reached or did not do what the hub asked; says what to do."""


class BrokerRefused(BrokerError):
    """The broker refused the login (user name, password or client id)."""


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


def hub_client_id(hub_id: str) -> str:
    """The only MQTT client id the hub's service may use, and the only login that may use it."""
    return f"trygg-hub-{hub_id}"


def admin_client_id(hub_id: str) -> str:
    """The only MQTT client id the hub's tools (the admin user) may use."""
    return f"trygg-admin-{hub_id}"


def admin_password(hub_password: str) -> str:
    """The admin user's broker password, derived from the hub's secret like a device's from its
    key: one secret file on the hub, two broker logins bound to different client ids."""
    return base64.urlsafe_b64encode(hmac.new(
        hub_password.encode(), b"trygg mqtt admin password v1", "sha256").digest()
    ).decode().rstrip("=")


@dataclass(frozen=True)
class HubLogins:
    """The hub's two broker logins: its service's (``user``, bound to :func:`hub_client_id`) and
    its tools' (:attr:`admin_user`, bound to :func:`admin_client_id`)."""

    user: str
    password: str
    hub_id: str

    @property
    def client_id(self) -> str:
        return hub_client_id(self.hub_id)

    @property
    def admin_user(self) -> str:
        return self.user + ADMIN_USER_SUFFIX

    @property
    def admin_password(self) -> str:
        return admin_password(self.password)

    @property
    def admin_client_id(self) -> str:
        return admin_client_id(self.hub_id)

    def __repr__(self) -> str:  # never the password, in a traceback or a log
        return f"HubLogins(user={self.user!r}, hub_id={self.hub_id!r})"


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
        _acl("subscribeLiteral", BROKER_DROPPED_TOPIC),
        _acl("publishClientReceive", BROKER_DROPPED_TOPIC),
    ]


def admin_role_acls() -> list[dict[str, Any]]:
    return [_acl("publishClientSend", CONTROL_TOPIC), _acl("subscribeLiteral", RESPONSE_TOPIC),
            _acl("publishClientReceive", RESPONSE_TOPIC),
            _acl("publishClientSend", DEVICES_CHANGED_TOPIC)]


# What the hub's role had before its tools got a login of their own: `trygg hub broker` takes it
# away from a broker set up then.
LEGACY_HUB_ACLS = [_acl("publishClientSend", DEVICES_CHANGED_TOPIC)]


def device_role_acls(device_id: str) -> list[dict[str, Any]]:
    return [_acl("publishClientSend", f"trygg/{device_id}/up"),
            _acl("subscribeLiteral", f"trygg/{device_id}/down"),
            _acl("publishClientReceive", f"trygg/{device_id}/down")]


# Everything not granted by a role is refused, delivery included (the plugin's own default lets
# every client receive whatever it managed to subscribe to).
DEFAULT_ACL_ACCESS = {"publishClientSend": False, "publishClientReceive": False,
                      "subscribe": False, "unsubscribe": True}


def hub_client(hub: HubLogins) -> dict[str, Any]:
    """The hub service's client (without its password)."""
    return {"username": hub.user, "clientid": hub.client_id, "textname": "trygg hub",
            "roles": [{"rolename": HUB_ROLE}]}


def admin_client(hub: HubLogins) -> dict[str, Any]:
    """The hub tools' client (without its password; the text name tells which one it has)."""
    return {"username": hub.admin_user, "clientid": hub.admin_client_id,
            "textname": "trygg hub tools, key " + key_fingerprint(hub.admin_password),
            "roles": [{"rolename": ADMIN_ROLE}]}


def dynsec_document(hub: HubLogins, devices: Iterable[tuple[str, bytes]]) -> dict[str, Any]:
    """The plugin's whole state for the hub and the paired devices (id, key)."""
    clients: list[dict[str, Any]] = [
        {**hub_client(hub), **password_fields(hub.password)},
        {**admin_client(hub), **password_fields(hub.admin_password)}]
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


def write_dynsec_file(path: Path, hub: HubLogins, devices: Iterable[tuple[str, bytes]],
                      group: str | None) -> None:
    """Seed the plugin's file; mosquitto reads it at start and rewrites it after each change,
    as its own user: group read-write."""
    text = json.dumps(dynsec_document(hub, devices), indent=1) + "\n"
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
                 timeout_s: float = 10.0, *, client_id: str | None = None,
                 lock_path: Path | None = None) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.timeout_s = timeout_s
        # The admin user's one client id (bound in the plugin); None: a fresh one each time
        # (a login without a bound client id: a broker set up before the admin user existed).
        self.client_id = client_id
        self.lock_path = lock_path
        self._lock_fd: int | None = None
        self._client: Any = None
        self._responses: list[dict[str, Any]] = []
        self._subscribed = False

    def where(self) -> str:
        return f"the broker at {self.host}:{self.port}"

    def _connect(self, client_id: str, clean: bool = True, username: str | None = None,
                 password: str | None = None) -> Any:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        username = username or self.username
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                             clean_session=clean)
        client.username_pw_set(username, password or self.password)
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
            raise BrokerRefused(f"{self.where()} refused the login {username!r} as client "
                                f"{client_id!r} ({rc}): is [mqtt] password_file the hub's? Has "
                                "`trygg hub broker` run (after any change of [hub] id) and "
                                "mosquitto been restarted since?")
        return client

    def _loop_until(self, client: Any, done: Any, what: str) -> None:
        deadline = time.monotonic() + self.timeout_s
        while not done():
            if time.monotonic() > deadline:
                with contextlib.suppress(Exception):
                    client.disconnect()
                raise BrokerError(f"{self.where()}: {what} within {self.timeout_s:g} s")
            client.loop(timeout=0.05)

    def _lock(self) -> None:
        """One admin connection at a time: a second CONNECT with the admin's one client id would
        end the first mid-command (MQTT 3.1.1 §3.1.4), leaving the caller unsure what the
        broker did. Waits up to ``timeout_s`` for another tool to finish."""
        if self.lock_path is None:
            return
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise BrokerError(
                        f"another hub tool (pairing, provisioning, `trygg hub broker` or "
                        f"`doctor`) has been administering {self.where()} for over "
                        f"{self.timeout_s:g} s ({self.lock_path}): let it finish, then try "
                        "again") from None
                time.sleep(0.05)
        self._lock_fd = fd

    def __enter__(self) -> BrokerAdmin:
        self._lock()
        try:
            client = self._connect(self.client_id
                                   or f"{self.username}-admin-{uuid.uuid4().hex[:8]}")
        except BaseException:
            self.close()
            raise
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
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)  # releases the lock

    def call(self, commands: Sequence[dict[str, Any]],
             tolerate: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """Send ``commands``, as few messages as fit the broker's ``max_packet_size`` (which
        it holds the hub to as well: a larger one would cost the connection); return the
        broker's responses in order. A response with an error raises :class:`BrokerError`
        unless its text is in ``tolerate``."""
        found: list[dict[str, Any]] = []
        batch: list[dict[str, Any]] = []
        tag = uuid.uuid4().hex
        for i, command in enumerate(commands):
            command = dict(command, correlationData=f"{tag}-{i}")
            if batch and len(_commands_payload([*batch, command])) > CONTROL_PAYLOAD_MAX:
                found += self._call_batch(batch, tag, tolerate)
                batch = []
            batch.append(command)
        if batch:
            found += self._call_batch(batch, tag, tolerate)
        return found

    def _call_batch(self, sent: list[dict[str, Any]], tag: str,
                    tolerate: tuple[str, ...]) -> list[dict[str, Any]]:
        client = self._client
        if client is None:
            raise BrokerError("BrokerAdmin used outside its `with` block")
        payload = _commands_payload(sent)
        if len(payload) > CONTROL_PAYLOAD_MAX:
            raise BrokerError(f"{self.where()}: the command {sent[0]['command']} is "
                              f"{len(payload)} bytes, more than the broker takes "
                              f"({CONTROL_PAYLOAD_MAX})")
        first = str(sent[0]["correlationData"])
        info = client.publish(CONTROL_TOPIC, payload, qos=1)
        found: list[dict[str, Any]] = []

        def answered() -> bool:
            for doc in self._responses:
                rs = doc.get("responses") if isinstance(doc, dict) else None
                if isinstance(rs, list) and rs and isinstance(rs[0], dict) and str(
                        rs[0].get("correlationData", "")) == first:
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

    def end_session(self, client_id: str, username: str, password: str) -> None:
        """End whatever session the broker keeps for ``client_id``: connect with that id and a
        clean session (which discards the stored one, MQTT 3.1.1 §3.1.2.4), then leave. Only
        the login bound to that client id may use it, so it connects as that login."""
        client = self._connect(client_id, clean=True, username=username, password=password)
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
        # A removed device's session (if it opened a persistent one) is ended as the device
        # itself, the one login its client id admits: first a password only the hub knows
        # (which also disconnects it), then a clean connection, then the client goes.
        parting = {d: new_password() for d in report.removed}
        self.call([{"command": "setClientPassword", "username": d, "password": pw}
                   for d, pw in parting.items()])
        for device_id, password in parting.items():
            self.end_session(have[device_id].get("clientid") or device_client_id(device_id),
                             device_id, password)
        self.call(commands, tolerate=("Role not found",))
        for device_id in report.rekeyed:
            self.end_session(device_client_id(device_id), device_id, want[device_id])
        self._verify(want, only)
        return report

    def sync_hub(self, hub: HubLogins, *, service: bool = True) -> list[str]:
        """Make the hub's own roles and logins what :func:`dynsec_document` seeds: the service
        bound to its client id, the tools' admin login with theirs. ``service`` False: leave
        the service's client alone (the caller is logged in as it, on a broker set up before
        the admin login existed; changing it would disconnect the caller). Returns what
        changed."""
        # The plugin disconnects every client holding a role whose ACLs change: the tools' role
        # is new on an old broker (nobody holds it yet), and the service's role and login are
        # changed only when the caller is the tools' login (the running hub reconnects).
        changed: list[str] = []
        roles = self.roles()
        commands: list[dict[str, Any]] = []
        wanted = [(ADMIN_ROLE, admin_role_acls())]
        if service:
            wanted.append((HUB_ROLE, hub_role_acls()))
        for role, acls in wanted:
            if role not in roles:
                commands.append({"command": "createRole", "rolename": role, "acls": acls})
                changed.append(f"role {role}")
            else:
                commands += [{"command": "addRoleACL", "rolename": role, **acl} for acl in acls]
        if service:
            commands += [{"command": "removeRoleACL", "rolename": HUB_ROLE,
                          "acltype": a["acltype"], "topic": a["topic"]} for a in LEGACY_HUB_ACLS]
        self.call(commands, tolerate=("ACL with this topic already exists", "ACL not found"))
        have = self.clients()
        want = admin_client(hub)
        tools = have.get(hub.admin_user)
        if tools is None:
            self.call([{"command": "createClient", **want, "password": hub.admin_password}])
            changed.append(f"login {hub.admin_user}")
        elif not _same_client(tools, want):
            self.call([{"command": "setClientPassword", "username": hub.admin_user,
                        "password": hub.admin_password}, {"command": "modifyClient", **want}])
            changed.append(f"login {hub.admin_user}")
        own = have.get(hub.user)
        if service and (own is None or not _same_client(own, hub_client(hub))):
            if own is None:
                self.call([{"command": "createClient", **hub_client(hub),
                            "password": hub.password}])
            else:  # a running hub is disconnected once and reconnects with its bound id
                self.call([{"command": "modifyClient", **hub_client(hub)}])
            changed.append(f"login {hub.user} bound to client id {hub.client_id}")
        if service and LEGACY_ADMIN_ROLE in roles:
            self.call([{"command": "deleteRole", "rolename": LEGACY_ADMIN_ROLE}],
                      tolerate=("Role not found",))
        return changed

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


def _commands_payload(commands: list[dict[str, Any]]) -> bytes:
    return json.dumps({"commands": commands}, separators=(",", ":")).encode()


def _same_client(have: dict[str, Any], want: dict[str, Any]) -> bool:
    return (have.get("clientid") == want["clientid"] and have.get("textname") == want["textname"]
            and sorted(r.get("rolename", "") for r in have.get("roles", []))
            == sorted(r["rolename"] for r in want["roles"]))


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
