"""Every `trygg bench` part runs end to end and ends with its JSON line.

The figures are what notes quote, so the benchmarks must not rot between the runs that
produce them. Tiny sizes here: these tests check what the benchmarks count (every frame
acked, every alarm received, every role measured), never how fast anything was.
"""

import json
import subprocess
import sys
from typing import Any

import pytest

from support import mpy
from trygg.hub.roles import wifi_roles


def run_bench(*args: str) -> tuple[dict[str, Any], str]:
    """`trygg bench ARGS`: (its JSON line, its stderr)."""
    proc = subprocess.run([sys.executable, "-m", "trygg.tools.cli.main", "bench", *args],
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result, proc.stderr


def bench(*args: str) -> dict[str, Any]:
    return run_bench(*args)[0]


def test_hub_bench_counts_every_frame_acked_in_every_round() -> None:
    result, stderr = run_bench("hub", "--devices", "2", "--frames", "50", "--rounds", "2")
    # The bench's hub has no centre by design: nothing to warn about, once per start or at all.
    assert "no [arc] section" not in stderr
    assert result["bench"] == "hub"
    assert len(result["ratios"]) == len(result["ratios_to_acking"]) == result["rounds"] == 2
    hub = result["hub"]
    assert hub["acked"] == 2 * 50 + 2 * 25  # the queued load, then the paced one
    assert hub["rejected_acks"] == 0
    assert result["rules"]["events"] > 300 * 1000
    # The CPU figures README quotes: per frame for each receiver, and per ingest stage alone.
    assert hub["cpu_us_per_frame"] > 0
    assert {"verify_us", "decode_us", "store_us", "rules_us"} <= set(result["stages"])
    assert all(result["stages"][k] > 0 for k in ("verify_us", "decode_us", "store_us"))
    assert set(result["targets"]) == {"ingest_ratio_ge_0_8", "rules_replay_ge_100000_per_s"}


@pytest.mark.skipif(not mpy.micropython_platform_supported(),
                    reason="simulated boards need the MicroPython unix port")
def test_firmware_bench_measures_every_role() -> None:
    result = bench("firmware", "--events", "2")
    assert list(result["roles"]) == list(wifi_roles())
    for figures in result["roles"].values():
        assert 0 < figures["heap_after_boot"] < figures["heap_after_boot_files_mode"]
        assert figures["frame_bytes"]["hello"] > 0
    assert result["romfs_image_bytes"] > 0
    # The 32-bit figures: tools/dev installs node and the WebAssembly port, so they must be
    # there; every role's modules take less room with 4-byte pointers than with 8-byte ones.
    assert list(result["heap_32bit"]) == list(wifi_roles())
    for role, by_port in result["heap_32bit"].items():
        assert 0 < by_port["wasm_32"] < by_port["unix_64"], role
        boot64 = result["roles"][role]["heap_after_boot_files_mode"]
        assert by_port["after_boot_files_mode_32bit_upper"] < boot64


@pytest.mark.skipif(not mpy.micropython_platform_supported(),
                    reason="simulated boards need the MicroPython unix port")
def test_energy_bench_measures_every_battery_role_through_the_bridge() -> None:
    result = bench("energy", "--events", "1")
    assert set(result["roles"]) == {"battery_motion", "battery_bed", "button"}
    for figures in result["roles"].values():
        measured = figures["measured"]
        # Each kind of wake was seen, and an event's wake sent its frame with the radio on.
        assert {"event", "heartbeat", "retry"} <= set(measured)
        assert measured["event"]["frames"] >= 1
        assert measured["event"]["radio_ms"] > 0
        # The sequence counter kept through deep sleep: no flash write a wake (a block of
        # numbers lasts days), where every wake wrote one before.
        assert measured["event"]["seq_writes"] == 0
        for day in ("quiet", "busy"):
            assert figures[day]["mah_per_day"] > 0
            assert figures[day]["years"] > 0
            assert figures[day]["seq_flash_writes_per_day"] < 1
            assert figures[day]["seq_flash_writes_per_day_before"] == figures[day][
                "wakes_per_day"]


def test_protocol_and_arc_benches_run() -> None:
    protocol = bench("protocol", "--seconds", "0.2", "--frames", "10")
    assert protocol["bench"] == "protocol"
    assert protocol["cpython_open"]["frames_per_s"] > 0
    arc = bench("arc", "--count", "2", "--burst", "5")
    assert arc["drain"]["received"] == arc["drain"]["burst"] == 5
    from trygg.tools.bench import arc_scaip as bench_arc_scaip
    if bench_arc_scaip.unavailable() is None:  # PJSIP's binding and kamailio are here
        for name in ("scaip-udp", "scaip-tcp"):
            drain = arc["protocols"][name]["drain"]
            assert drain["received"] == drain["burst"] == 5


@pytest.mark.skipif(not mpy.micropython_platform_supported(),
                    reason="simulated boards need the MicroPython unix port")
def test_e2e_bench_counts_every_alarm_and_restore_once_per_protocol_and_stimulus() -> None:
    from trygg.tools.bench import arc_scaip as bench_arc_scaip

    result = bench("e2e", "--trials", "2", "--seconds", "60")
    assert result["bench"] == "e2e"
    assert result["stimuli"] == ["smoke", "call_point"]
    protocols = result["protocols"]
    assert set(protocols) == {"scaip", "dc09", "sos-access"}
    if bench_arc_scaip.unavailable() is not None:  # no PJSIP binding or kamailio here
        assert "error" in protocols.pop("scaip")
    for name, figures in protocols.items():
        assert figures["notices"] == 0, name  # no link trouble on the way
        for role, kind in (("smoke", "fire"), ("call_point", "assistance")):
            got = figures[role]
            assert got["kind"] == kind
            assert got["trials"] == got["alarm"]["count"] == 2, (name, role)
            assert got["timed_out"] is False, (name, role)
            # Each trial's alarm arrived once, and so did each restore: the relay opened, the
            # call closed by hand.
            assert got["alarms_arrived"] == got["restores_arrived"] == 2, (name, role, got)
            # Each trial's alarm was found in the hub's store between stimulus and arrival.
            assert got["alarm_split"]["stimulus_to_raised"]["count"] == 2, (name, role)
        assert figures["smoke"]["restore"]["count"] == 2, name
        assert figures["call_point"]["restore"]["count"] == 0, name


def test_bench_refuses_bad_counts() -> None:
    proc = subprocess.run([sys.executable, "-m", "trygg.tools.cli.main", "bench", "hub", "--rounds",
                           "0"], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 2
    assert "--rounds: 0 is outside 1..20" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "trygg.tools.cli.main", "bench", "e2e",
                           "--protocol", "sia"], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 2
    assert "--protocol 'sia' (one of scaip, dc09, sos-access)" in proc.stderr
