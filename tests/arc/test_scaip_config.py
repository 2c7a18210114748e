"""A SCAIP receiver's keys in ``[[arc.receivers]]``: the Digest password from a private file
(refused when others may read it), and every bad key named with what to do."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from support.arc import config
from support.scaip import CID_PASSWORD, scaip_receiver
from trygg.hub.arc import ArcConfigError
from trygg.hub.arc.protocols.scaip import ScaipReceiver


def _table(**extra: Any) -> dict[str, Any]:
    table = scaip_receiver("centre", 5060, **extra)
    return {k: v for k, v in table.items() if v is not None}


def _secret(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "scaip-password"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_password_is_read_from_a_private_file(tmp_path: Path) -> None:
    path = _secret(tmp_path, CID_PASSWORD + "\n")
    (rc,) = config(_table(password=None, password_file=str(path))).receivers
    assert isinstance(rc, ScaipReceiver)
    assert rc.password == CID_PASSWORD
    assert CID_PASSWORD not in repr(rc)


@pytest.mark.parametrize(("mode", "says"), [
    (0o640, "readable by others (mode 640); chmod 600"),
    (0o604, "readable by others (mode 604); chmod 600"),
])
def test_password_file_others_can_read_is_refused(tmp_path: Path, mode: int, says: str) -> None:
    path = _secret(tmp_path, CID_PASSWORD, mode)
    with pytest.raises(ArcConfigError,
                       match=r"receivers\[0\]\.password_file: .*" + re.escape(says)):
        config(_table(password=None, password_file=str(path)))


@pytest.mark.parametrize(("extra", "key", "says"), [
    ({"password": None, "password_file": "/nonexistent/p"}, "password_file",
     "No such file or directory: write the Digest password"),
    ({"password": None}, "password_file", "missing: the file"),
    ({"password_file": "PATH"}, "password", "given twice"),
    ({"password": ""}, "password", "empty"),
    ({"cid": "46-70"}, "cid", "not the controller id"),
    ({"centre": "al arm"}, "centre", "not a SIP user name"),
    ({"resident_phone": "0701234567"}, "resident_phone", "not an international number"),
    ({"hold_interval": 5.0, "hold_max": 1.0}, "hold_max", "shorter than hold_interval"),
    ({"hold_max": 3600.0}, "hold_max", "out of range"),
    ({"transport": "sctp"}, "transport", "sctp"),
])
def test_bad_keys_are_named(tmp_path: Path, extra: dict[str, Any], key: str,
                            says: str) -> None:
    if extra.get("password_file") == "PATH":
        extra = {**extra, "password_file": str(_secret(tmp_path, CID_PASSWORD))}
    with pytest.raises(ArcConfigError, match=rf"receivers\[0\]\.{key}: .*{says}"):
        config(_table(**extra))


def test_empty_password_file_is_refused(tmp_path: Path) -> None:
    path = _secret(tmp_path, "\n")
    with pytest.raises(ArcConfigError, match=r"password_file: the password in .* is not "
                       r"1-128 printable"):
        config(_table(password=None, password_file=str(path)))
