"""mosquitto's password and ACL files for the paired devices, written by the hub.

Each device logs in with its device id as user name and may publish only to its own uplink
``trygg/<id>/up`` and read only its own downlink ``trygg/<id>/down``; the hub's user reads every
uplink and writes every downlink. A device that leaks its broker password can therefore neither
speak for another device (the frame MAC would stop that too) nor read another's commands.

Password hashes are mosquitto 2's PBKDF2-SHA512 format, ``$7$<iterations>$<salt b64>$<hash
b64>`` (what ``mosquitto_passwd`` writes), made here with hashlib so the hub needs no external
tool. Files are replaced atomically (write, fsync, rename). mosquitto 2 reads them after it has
dropped privileges to its own user, so they are mode 0640 with the broker's group (``[broker]
group``, default "mosquitto"; the hub's user must be a member to hand the file over), or 0600
where that group does not exist. Nobody else can read them.
"""

from __future__ import annotations

import base64
import grp
import hashlib
import hmac
import os
import re
import secrets
import signal
from collections.abc import Iterable
from pathlib import Path

# mosquitto_passwd's defaults (mosquitto 2.0 src/password_mosq.h): 101 iterations, 12-byte salt.
# The passwords are 32 random bytes, so the iteration count is not what protects them.
PBKDF2_ITERATIONS = 101
SALT_BYTES = 12
HUB_USER = "trygg-hub"
DEVICE_ID_RE = re.compile(r"^[0-9a-f]{12}$")

# Shipped broker configuration (mosquitto.conf(5)), also as hub/mosquitto-trygg.conf; the paths
# are the [broker] defaults.
BROKER_CONF = """\
# Trygg: include from /etc/mosquitto/conf.d/trygg.conf. Loopback and the home LAN only.
per_listener_settings false
listener 1883
allow_anonymous false
password_file /etc/mosquitto/trygg/passwd
acl_file /etc/mosquitto/trygg/acl
# A Trygg frame is at most 256 bytes; refuse anything far larger before it costs memory.
max_packet_size 1024
# QoS 1 messages for the hub while it restarts; devices keep their own outbox.
persistence true
max_queued_messages 10000
"""


def hash_password(password: str, salt: bytes | None = None,
                  iterations: int = PBKDF2_ITERATIONS) -> str:
    """A mosquitto 2 ``$7$`` PBKDF2-SHA512 password hash."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    salt_b64 = base64.b64encode(salt).decode()
    return f"$7${iterations}${salt_b64}${base64.b64encode(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    parts = encoded.split("$")
    if len(parts) != 5 or parts[1] != "7":
        return False
    iterations, salt, digest = int(parts[2]), base64.b64decode(parts[3]), parts[4]
    expected = hash_password(password, salt, iterations).split("$")[4]
    return hmac.compare_digest(expected, digest)


def new_password() -> str:
    return secrets.token_urlsafe(32)


def device_password(key: bytes) -> str:
    """The broker password of a device, derived from its 32-byte key (HKDF-like, one HMAC):
    provisioning writes one secret to the device, and the broker password can be re-derived
    for a new password file without asking the device."""
    return base64.urlsafe_b64encode(
        hmac.new(key, b"trygg mqtt password v1", "sha256").digest()).decode().rstrip("=")


def _atomic_write(path: Path, text: str, group: str | None = None) -> None:
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
            mode = 0o640
        except (KeyError, PermissionError):
            pass  # no such group here, or not ours to give: owner-only
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def password_file_text(users: Iterable[tuple[str, str]]) -> str:
    """``user:hash`` lines; ``users`` are (name, cleartext password)."""
    lines = []
    for name, password in users:
        if ":" in name or "\n" in name:
            raise ValueError(f"broker user name {name!r} may not contain ':' or a newline")
        lines.append(f"{name}:{hash_password(password)}")
    return "\n".join(lines) + "\n"


def acl_file_text(device_ids: Iterable[str], hub_user: str = HUB_USER) -> str:
    """mosquitto ACL (mosquitto.conf(5) "acl_file"): per-user topic rules."""
    out = ["# Written by the Trygg hub: do not edit, `trygg hub pair` rewrites it.",
           f"user {hub_user}", "topic read trygg/+/up", "topic write trygg/+/down", ""]
    for device_id in sorted(device_ids):
        if not DEVICE_ID_RE.match(device_id):
            raise ValueError(f"device id {device_id!r} is not 12 lowercase hex digits")
        out += [f"user {device_id}", f"topic write trygg/{device_id}/up",
                f"topic read trygg/{device_id}/down", ""]
    return "\n".join(out)


def write_broker_files(password_file: Path, acl_file: Path, hub_password: str,
                       device_keys: Iterable[tuple[str, bytes]],
                       group: str | None = "mosquitto") -> None:
    """Write both files for the hub user and every paired device (id, key)."""
    devices = list(device_keys)
    users = [(HUB_USER, hub_password)] + [(d, device_password(k)) for d, k in devices]
    _atomic_write(password_file, password_file_text(users), group)
    _atomic_write(acl_file, acl_file_text(d for d, _ in devices), group)


def reload_broker(pid_file: Path = Path("/run/mosquitto/mosquitto.pid")) -> bool:
    """Ask a running mosquitto to re-read its password and ACL files (SIGHUP). False if no
    broker pid file is there (the files apply at its next start)."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, signal.SIGHUP)
    except OSError:
        return False
    return True


def read_secret(path: Path) -> str:
    return path.read_text().strip()


def write_secret(path: Path, secret: str) -> None:
    _atomic_write(path, secret + "\n")
