"""The broker fixture starts a real mosquitto that survives stop/start on the same port."""

import socket

from trygg.tools.sim.mosquitto import Mosquitto


def _accepts(broker: Mosquitto) -> bool:
    try:
        socket.create_connection((broker.host, broker.port), timeout=0.5).close()
        return True
    except OSError:
        return False


def test_broker_restarts_on_the_same_port(mosquitto: Mosquitto) -> None:
    assert _accepts(mosquitto)
    port = mosquitto.port
    mosquitto.stop()
    assert not _accepts(mosquitto)
    mosquitto.start()
    assert mosquitto.port == port
    assert _accepts(mosquitto)
