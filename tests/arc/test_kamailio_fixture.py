"""The kamailio fixture (tools/sim/kamailio.py): a real registrar that demands Digest, over UDP
and TCP, and can be stopped, killed and started again on the same port."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from support.scaip import CID, CID_PASSWORD, USERS, needs_sip
from trygg.hub.arc import scaip_sip
from trygg.tools.sim.kamailio import Kamailio, find_kamailio

WAIT = 10.0


def _kamailio_or_skip() -> None:
    try:
        find_kamailio()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


def _register(server: Kamailio, transport: str, user: str = CID) -> bytes:
    """A REGISTER without credentials, as raw bytes over ``transport``; the first response."""
    with socket.socket(socket.AF_INET,
                       socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM) as s:
        s.settimeout(WAIT)
        s.bind(("127.0.0.1", 0))
        local = f"127.0.0.1:{s.getsockname()[1]}"
        request = (f"REGISTER sip:{server.domain} SIP/2.0\r\n"
                   f"Via: SIP/2.0/{transport.upper()} {local};branch=z9hG4bK{time.time_ns()}\r\n"
                   f"Max-Forwards: 70\r\nFrom: <sip:{user}@{server.host}>;tag=t1\r\n"
                   f"To: <sip:{user}@{server.host}>\r\nCall-ID: reg-{time.time_ns()}\r\n"
                   f"CSeq: 1 REGISTER\r\nContact: <sip:{user}@{local};transport={transport}>"
                   "\r\nExpires: 60\r\nContent-Length: 0\r\n\r\n").encode()
        if transport == "udp":
            s.sendto(request, (server.host, server.port))
        else:
            s.connect((server.host, server.port))
            s.sendall(request)
        return s.recv(4096)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_register_without_credentials_is_challenged_with_digest(transport: str) -> None:
    _kamailio_or_skip()
    with Kamailio(USERS) as server:
        answer = _register(server, transport)
    assert answer.startswith(b"SIP/2.0 401 ")
    challenge = [line for line in answer.split(b"\r\n")
                 if line.lower().startswith(b"www-authenticate:")]
    assert challenge, answer
    assert b"Digest" in challenge[0]
    assert b'qop="auth"' in challenge[0]


@needs_sip
@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_register_with_credentials_is_accepted_and_a_wrong_password_is_not(
        transport: str) -> None:
    with Kamailio(USERS) as server:
        good = await scaip_sip.SipAccount(scaip_sip.AccountConfig(
            CID, CID_PASSWORD, server.host, server.port, transport, "127.0.0.1")).open()
        bad = await scaip_sip.SipAccount(scaip_sip.AccountConfig(
            "alarm", "wrong", server.host, server.port, transport, "127.0.0.1",
            register_retry_s=60)).open()
        try:
            assert await good.wait_registered(WAIT)
            assert good.registration is not None
            assert good.registration.code == 200
            await asyncio.wait_for(bad.registration_answered.wait(), WAIT)
            assert bad.registration is not None
            assert bad.registration.code in (401, 403)
            assert not bad.registered.is_set()
        finally:
            await good.close()
            await bad.close()


def test_stop_kill_and_start_again_on_the_same_port() -> None:
    _kamailio_or_skip()
    with Kamailio(USERS) as server:
        port = server.port
        server.stop()
        assert not server.running
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), 0.5).close()
        server.start()
        assert _register(server, "udp").startswith(b"SIP/2.0 401 ")
        server.kill()
        server.start()
        assert server.port == port
        assert _register(server, "tcp").startswith(b"SIP/2.0 401 ")


def test_bad_users_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="not a SIP user name"):
        Kamailio({"a b": "x"})
    with pytest.raises(ValueError, match="password is empty"):
        Kamailio({"ab": ""})
