"""One dialect for the whole hub TOML: ``[arc]`` is read by the same reader as every other
section, once, into a typed value, and its errors look like every other error: file, dotted
key, what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from trygg.hub import config as hub_config
from trygg.hub.arc import ArcConfig
from trygg.hub.arc.protocols.dc09 import Dc09Receiver

HEAD = '[hub]\nid = "h"\ndatabase = "d"\n[[residents]]\nid = "r"\narc_account = "1234"\n'
ARC = '[arc]\naccount = "1234"\n[[arc.receivers]]\nname = "p"\nhost = "h"\nport = 9000\n'


def _load(tmp_path: Path, text: str) -> hub_config.HubConfig:
    path = tmp_path / "hub.toml"
    path.write_text(text)
    return hub_config.load(path)


def test_arc_section_is_parsed_once_into_a_typed_value(tmp_path: Path) -> None:
    cfg = _load(tmp_path, HEAD + ARC + 'key = "' + "ab" * 16 + '"\n')
    assert isinstance(cfg.arc, ArcConfig)
    (rc,) = cfg.arc.receivers
    assert isinstance(rc, Dc09Receiver)
    assert (rc.protocol, rc.transport, rc.key) == ("dc09", "tcp", bytes([0xAB] * 16))
    assert cfg.arc_config() is cfg.arc
    assert _load(tmp_path, HEAD).arc is None


@pytest.mark.parametrize(("text", "expected"), [
    # The same mistakes in [hub] and in [arc], the same words.
    (HEAD.replace('database = "d"\n', 'database = "d"\ntick_s = "x"\n'),
     "hub.tick_s: must be a number, got 'x'"),
    (HEAD + ARC.replace("port = 9000", 'port = "x"'),
     "[arc].receivers[0].port: must be an integer, got 'x'"),
    (HEAD.replace('database = "d"\n', 'database = "d"\ntick = 1\n'),
     "hub.tick: unknown key 'tick' (known:"),
    (HEAD + ARC + "formatt = 1\n", "[arc].receivers[0].formatt: unknown key 'formatt'"),
    (HEAD + ARC.replace('account = "1234"\n', 'account = "1234"\nack_timeout = 0\n'),
     "[arc].ack_timeout: 0.0 out of range 0.05..300"),
    (HEAD + ARC + 'protocol = "sia"\n', "[arc].receivers[0].protocol: 'sia' (one of dc09"),
    (HEAD + ARC + 'protocol = "udp"\ntransport = "tcp"\n',
     "[arc].receivers[0].transport: given twice"),
    (HEAD + ARC + 'key = "abcd"\n', "[arc].receivers[0].key: 2 bytes; an AES key is"),
    ("arc = 3\n" + HEAD, "arc: must be a table"),
])
def test_errors_name_file_dotted_key_and_fix(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(hub_config.ConfigError) as err:
        _load(tmp_path, text)
    assert str(err.value).startswith(f"{tmp_path / 'hub.toml'}: ")
    assert expected in str(err.value)


def test_legacy_transport_as_protocol_still_means_dc09(tmp_path: Path) -> None:
    cfg = _load(tmp_path, HEAD + ARC + 'protocol = "udp"\n')
    assert cfg.arc is not None
    assert (cfg.arc.receivers[0].protocol, cfg.arc.receivers[0].transport) == ("dc09", "udp")
