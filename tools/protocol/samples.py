"""Representative and worst-case messages of every kind.

Used by the size tests (every device->hub frame at its largest allowed content
must fit ESP-NOW's 250 bytes), the benchmark and the test vectors, so all three
agree on what "largest" means.
"""

from typing import Any

from trygg.protocol import messages

MAX_U32 = 0xFFFFFFFF
# Largest sequence number the Partial IV can carry (5 bytes, RFC 8613 §6.1).
MAX_SEQ = (1 << 40) - 1
# A realistic sequence number after months in the field (fits 4 bytes).
TYPICAL_SEQ = 3_000_000
TYPICAL_TIME = 1_795_000_000  # 2026-11


def typical() -> dict[str, dict[str, Any]]:
    """One everyday message per kind (clock set, as after the hub's time sync)."""
    return {
        "motion_event": {"type": "event", "uptime": 86_400, "time": TYPICAL_TIME,
                         "event": "motion"},
        "bed_event": {"type": "event", "uptime": 86_400, "time": TYPICAL_TIME,
                      "event": "bed_out"},
        "smoke_event": {"type": "event", "uptime": 86_400, "time": TYPICAL_TIME,
                        "event": "smoke_alarm"},
        "dose_event": {"type": "event", "uptime": 86_400, "time": TYPICAL_TIME,
                       "event": "dose_taken", "value": 3},
        "hello": {"type": "hello", "uptime": 2, "firmware": "0.1.0", "role": "motion",
                  "board": "esp32-devkitc", "reset": "power_on", "power": "mains"},
        "heartbeat": {"type": "heartbeat", "uptime": 86_400, "time": TYPICAL_TIME,
                      "battery_mv": 3_010, "rssi": -67, "free_heap": 61_000, "outbox": 0,
                      "rejected": 0, "triggers": 12},
        "command_result": {"type": "command_result", "uptime": 86_400, "time": TYPICAL_TIME,
                           "command_id": 17, "status": "ok"},
        "ack": {"type": "ack", "ranges": [[2_999_990, 3_000_000]]},
        "command_set_time": {"type": "command", "command_id": 18, "command": "set_time",
                             "time": TYPICAL_TIME, "utc_offset_min": 60},
    }


def largest() -> dict[str, dict[str, Any]]:
    """Every message kind with every field at its largest allowed encoding."""
    long_config: dict[str, Any] = {}
    for name, (_key, kind, _lo, hi) in messages.CONFIG_KEYS.items():
        long_config[name] = True if kind == "bool" else ("x" * hi if kind == "tstr" else hi)
    return {
        "hello": {"type": "hello", "uptime": MAX_U32, "time": MAX_U32, "firmware": "v" * 16,
                  "role": "dispenser", "board": "b" * 24, "reset": "deep_sleep",
                  "heartbeat_s": 86_400, "power": "battery"},
        "event": {"type": "event", "uptime": MAX_U32, "time": MAX_U32,
                  "event": "dispenser_empty", "value": -0x80000000},
        "heartbeat": {"type": "heartbeat", "uptime": MAX_U32, "time": MAX_U32,
                      "battery_mv": 65_535, "rssi": -128, "free_heap": MAX_U32,
                      "outbox": 65_535, "rejected": MAX_U32, "level": 65_535,
                      "triggers": 65_535, "stock": 255, "dropped": 65_535,
                      "heartbeat_s": 86_400},
        "command_result": {"type": "command_result", "uptime": MAX_U32, "time": MAX_U32,
                           "command_id": MAX_U32, "status": "unsupported",
                           "detail": "ø" * 16},
        # hub -> device: limited by MAX_FRAME_SIZE only, shown for completeness
        "ack": {"type": "ack",
                "ranges": [[MAX_SEQ - 2 * i - 1, MAX_SEQ - 2 * i] for i in range(8)]},
        "command_set_config": {"type": "command", "command_id": MAX_U32,
                               "command": "set_config", "config": long_config},
        "command_set_dose_schedule": {"type": "command", "command_id": MAX_U32,
                                      "command": "set_dose_schedule",
                                      "doses": [[1432 + i, 255] for i in range(8)]},
    }
