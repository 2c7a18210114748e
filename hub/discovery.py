"""Zeroconf (RFC 6762/6763) advertisement of the hub as ``_trygg._tcp.local.`` so technician
tools find it on the home network: TXT records carry the hub id and the MQTT port."""

from __future__ import annotations

import socket
from types import TracebackType

from zeroconf import IPVersion, ServiceInfo
from zeroconf.asyncio import AsyncZeroconf

SERVICE_TYPE = "_trygg._tcp.local."


def service_info(hub_id: str, mqtt_port: int, addresses: list[str]) -> ServiceInfo:
    return ServiceInfo(
        SERVICE_TYPE,
        f"{hub_id}.{SERVICE_TYPE}",
        addresses=[socket.inet_aton(a) for a in addresses],
        port=mqtt_port,
        properties={"hub_id": hub_id, "mqtt_port": str(mqtt_port), "protocol": "1"},
        server=f"{hub_id}.local.",
    )


def _local_addresses() -> list[str]:
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
        addresses = sorted({str(i[4][0]) for i in infos})
    except OSError:
        addresses = []
    return addresses or ["127.0.0.1"]


class Advertiser:
    """``async with Advertiser(hub_id, port, interfaces):`` keeps the service registered."""

    def __init__(self, hub_id: str, mqtt_port: int, interfaces: tuple[str, ...] = ()) -> None:
        self.interfaces = list(interfaces)
        self.info = service_info(hub_id, mqtt_port, self.interfaces or _local_addresses())
        self._zc: AsyncZeroconf | None = None

    async def __aenter__(self) -> Advertiser:
        if self.interfaces:
            self._zc = AsyncZeroconf(interfaces=self.interfaces, ip_version=IPVersion.V4Only)
        else:
            self._zc = AsyncZeroconf(ip_version=IPVersion.V4Only)
        await self._zc.async_register_service(self.info)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._zc is not None:
            await self._zc.async_unregister_service(self.info)
            await self._zc.async_close()
            self._zc = None
