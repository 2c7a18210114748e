"""Hub configuration: one TOML file, validated before anything runs.

Every tunable number has a default here with the reason for it; ``hub/hub.example.toml`` shows
them all. Errors name the file, the dotted key and what to do::

    hub.toml: residents[0].timezone: unknown time zone 'Europe/Oslp' (use an IANA name such as
    Europe/Oslo)

Like ESPHome components, the whole file is checked at start: a typo never surfaces at 03:00 as a
missing alarm. One reader (``trygg.hub.config_reader.TableReader``) reads every section, the
``[arc]`` section and each centre protocol's receiver keys included, into typed values.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .arc.config import ArcConfig, load_arc_config
from .config_reader import ConfigError, TableReader
from .rules.resident import Resident, Thresholds

# The resident model belongs to the rules core (which never imports this module); this module
# builds it from TOML. Re-exported for callers that configure a hub.
__all__ = ["EXAMPLE_PATH", "NORDIC_ZONES", "ConfigError", "HubConfig", "Resident", "Thresholds",
           "load", "parse"]

# The Nordic time zones the hub is tested with (any IANA zone is accepted).
NORDIC_ZONES = ("Europe/Oslo", "Europe/Stockholm", "Europe/Copenhagen", "Europe/Helsinki")

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class MqttConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str = "trygg-hub"
    # File with the hub's own broker password (written by `trygg hub broker`, mode 0600).
    password_file: str = ""
    # Seconds: how long the broker waits before it drops a silent hub (MQTT 3.1.1 §3.1.2.10).
    keepalive_s: int = 30
    # Seconds between reconnection attempts after the broker went away.
    reconnect_s: float = 2.0
    # Seconds without the broker before the centre gets a "sensors not heard" notice: the hub
    # hears no device then. Two minutes ride out a broker restart or upgrade (seconds) and
    # still tell the centre long before the first device would count as silent (15 min).
    broker_lost_alarm_s: float = 120.0


@dataclass(frozen=True)
class BrokerConfig:
    """mosquitto for Trygg: what `trygg hub broker` writes and how the hub administers it."""

    # mosquitto configuration written by `trygg hub broker`; linked once from mosquitto's
    # conf.d (README, Install), so the hub can rewrite it without root.
    conf_file: str = "/etc/mosquitto/trygg/mosquitto.conf"
    # The dynamic-security plugin's state (clients, roles, ACLs): seeded by `trygg hub broker`,
    # then kept by mosquitto and changed by the hub over MQTT.
    dynsec_file: str = "/etc/mosquitto/trygg/dynamic-security.json"
    # Path of mosquitto_dynamic_security.so; empty: found under /usr/lib (Debian's place).
    plugin: str = ""
    # Address the broker listens on; empty: every interface (devices reach it over Wi-Fi).
    listen_address: str = ""
    # mosquitto reads and rewrites the plugin's file as its own user: this group, mode 0660.
    group: str = "mosquitto"
    # QoS 1 messages the broker queues per client: the hub's frames while it restarts (a
    # device's outbox holds at most 512), and at most this many of a device's own downlink.
    max_queued_messages: int = 10000
    # A persistent session nobody resumes for this long is removed (the hub's survives any
    # restart shorter than this; devices keep their frames in their own outbox anyway).
    session_expiry_days: float = 7.0
    # Seconds to wait for the broker's answer to an administrative command.
    admin_timeout_s: float = 10.0
    # From the password-file setup before the dynamic-security plugin: `trygg hub broker`
    # removes these files once the plugin is in use. pid_file is no longer used.
    password_file: str = "/etc/mosquitto/trygg/passwd"
    acl_file: str = "/etc/mosquitto/trygg/acl"
    pid_file: str = ""


@dataclass(frozen=True)
class IngestConfig:
    # Group commit: store at most this many frames per SQLite transaction. One fsync serves the
    # whole group, which is what lets a Raspberry Pi's SD card keep up with a burst.
    batch_max: int = 256
    # Per-device token bucket: sustained frames/s and burst. A device sends a frame every few
    # minutes. The burst is what a device's outbox can hold after an outage (firmware
    # outbox_max is at most 256 frames, and alarms may take it to twice that), so draining it
    # is never rate-limited -- rate-limited frames count towards the rejected-frames notice --
    # while 5/s keeps a broken or hostile device from starving the others.
    device_rate_per_s: float = 5.0
    device_burst: int = 512
    # Repeated rejected frames from a paired device: this many within the window raise a
    # technical alarm (a device with a wrong key, or someone attacking it).
    rejected_alarm_count: int = 10
    rejected_window_s: float = 600.0
    # Rejected frames are logged at most once per device and reason in this many seconds: the
    # first at once, then one line with the exact count of the rest. A device flooding at its
    # rate limit would otherwise write ~80 MB a day to the SD card; at 300 s one device and
    # reason costs at most ~45 KB a day. The counters (`trygg hub rejections`) stay exact.
    rejection_log_interval_s: float = 300.0


@dataclass(frozen=True)
class CommandConfig:
    # Retry an unanswered command after retry_initial_s, doubling up to retry_max_s; a device
    # that is asleep or offline gets it when it comes back. Give up after expire_s.
    retry_initial_s: float = 10.0
    retry_max_s: float = 600.0
    expire_s: float = 86400.0


@dataclass(frozen=True)
class RetentionConfig:
    # Health data is kept only as long as needed: 90 days of events by default,
    # alarms and the events that caused them for two years (typical municipal record keeping).
    events_days: float = 90.0
    alarm_days: float = 730.0
    prune_interval_h: float = 24.0


@dataclass(frozen=True)
class DiscoveryConfig:
    enabled: bool = True
    # Interfaces (addresses) to advertise on; empty = all. Tests use ["127.0.0.1"].
    interfaces: tuple[str, ...] = ()


@dataclass(frozen=True)
class BridgeConfig:
    """[bridge]: the ESP-NOW bridge on a USB port (hub/bridge.py); none when port is empty."""

    # The bridge's serial device, by its stable name (/dev/serial/by-id/usb-Silicon_Labs_...):
    # /dev/ttyUSB0 may name another adapter after a replug.
    port: str = ""
    # MicroPython's console rate on the ESP32: a 250-byte frame is ~30 ms as a line.
    baud: int = 115200
    # After the cable is pulled (or the bridge resets), try to open the port again this often.
    reopen_s: float = 1.0
    # Downlink frames waiting for the bridge's credit; beyond, the oldest is dropped (an ack
    # that does not get through costs the device one resend; a command is retried).
    queue_max: int = 256
    # A battery device's frames of one wake follow each other within its espnow_ack_ms (300 ms
    # by default) and its wakes are a hold-off (60 s) or a heartbeat apart: a device silent
    # this long has slept, and its next verified frame is a new wake, at which the hub sends
    # the device's unanswered commands at once (hub/commands.py). Shorter costs at most a
    # command sent twice in one wake (the device runs a command id once per wake).
    wake_gap_s: float = 2.0


@dataclass(frozen=True)
class HubConfig:
    hub_id: str
    database: str
    residents: tuple[Resident, ...]
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    broker: BrokerConfig = field(default_factory=BrokerConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    commands: CommandConfig = field(default_factory=CommandConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    discovery: DiscoveryConfig = field(default_factory=DiscoveryConfig)
    bridge: BridgeConfig = field(default_factory=BridgeConfig)
    # Seconds between rule ticks (timers: fall, inactivity, silence). 15 s keeps an alarm within
    # a quarter minute of its deadline at negligible CPU.
    tick_s: float = 15.0
    demo_profile: bool = False  # short thresholds allowed (trygg demo); never in a real home
    # The [arc] section as the forwarder's settings (hub/arc/config.py); None: no [arc].
    arc: ArcConfig | None = None
    source: str = "<config>"

    def resident(self, resident_id: str) -> Resident:
        for r in self.residents:
            if r.id == resident_id:
                return r
        raise KeyError(resident_id)

    def arc_config(self) -> ArcConfig | None:
        """The ``[arc]`` section as the forwarder's settings, or None when there is none."""
        return self.arc

    @property
    def arc_outbox_path(self) -> Path:
        """The ARC outbox database, beside the event store: same owner, same backups, and
        ``trygg hub test-alarm`` takes its message numbers from the same counter."""
        return Path(self.database).with_name("arc-outbox.sqlite")


# --- loading ---------------------------------------------------------------------------------


def _dataclass_section(reader: TableReader, cls: type,
                       ranges: dict[str, tuple[float, float]]) -> Any:
    """Read a flat section whose keys are the dataclass's fields, with numeric ranges."""
    defaults = cls()
    values: dict[str, Any] = {}
    for f in fields(cls):
        default = getattr(defaults, f.name)
        if isinstance(default, bool):
            values[f.name] = reader.get(f.name, bool, default)
        elif isinstance(default, int):
            lo, hi = ranges.get(f.name, (0, 2**31 - 1))
            values[f.name] = reader.integer(f.name, default, int(lo), int(hi))
        elif isinstance(default, float):
            lo, hi = ranges.get(f.name, (0.0, 1e9))
            values[f.name] = reader.number(f.name, default, lo, hi)
        elif isinstance(default, str):
            values[f.name] = reader.text(f.name, default)
        elif isinstance(default, tuple):
            values[f.name] = reader.strings(f.name, default)
    reader.finish()
    return cls(**values)


_THRESHOLD_RANGES: dict[str, tuple[float, float]] = {
    "learn_days": (7, 90), "learn_min_days": (1, 60), "learn_margin": (1, 5),
    "learn_margin_min": (0, 120),
    "still_floor_min": (1, 240), "still_ceiling_min": (10, 1440), "still_default_min": (5, 1440),
    "bathroom_no_motion_min": (5, 480), "night_no_motion_min": (1, 240),
    "bed_exit_return_min": (1, 240), "bed_exit_confirm_s": (10, 3600),
    "away_confirm_min": (1, 120), "motion_holdoff_s": (0, 3600),
    "outing_default_h": (0.5, 48), "outing_ceiling_h": (1, 72), "outing_floor_h": (0.25, 48),
    "rise_margin_min": (0, 240), "nap_default_h": (0.5, 24), "nap_ceiling_h": (1, 24),
    "nap_floor_h": (0.25, 24), "not_in_bed_still_min": (5, 240),
    "check_window_min": (0.5, 15), "check_max_per_hour": (1, 12), "check_reasks": (0, 3),
    "check_quantile": (0.5, 1), "check_default_min": (1, 1440),
    "check_floor_min": (1, 240),
    "dose_window_min": (5, 720), "silent_heartbeats": (2, 100), "heartbeat_s": (10, 86400),
    "battery_low_mv": (2000, 5000), "battery_ok_mv": (2000, 5000), "stock_low_doses": (0, 255),
    "aa_low_mv": (2000, 5000), "aa_ok_mv": (2000, 5000),
    "coin_cell_low_mv": (2000, 5000), "coin_cell_ok_mv": (2000, 5000),
}
# [hub] demo_profile = true: the time thresholds may be as short as a few seconds, so the
# simulated-home demo (trygg demo) and its CI run show a night fall in seconds. Never for a
# real home: the hub logs a warning at every start.
_DEMO_THRESHOLD_RANGES = dict(_THRESHOLD_RANGES, **{
    name: (min(lo, 0.05), hi) for name, (lo, hi) in _THRESHOLD_RANGES.items()
    if name.endswith(("_min", "_hours"))})
# Keys of earlier versions, and what replaced them: a configuration that still sets one is
# stopped with this advice rather than a bare "unknown key".
_RETIRED = {
    "inactivity_hours": "replaced by stillness learned per room and hour; the upper bound is "
                        "thresholds.still_ceiling_min (default 240): remove the key",
    "away_grace_s": "motion right after the door closed now counts as someone inside; "
                    "remove the key",
    "active_start": "stillness is watched at every hour now, learned per room and hour; "
                    "remove the key",
    "active_end": "stillness is watched at every hour now, learned per room and hour; "
                  "remove the key",
}


def _reject_retired(reader: TableReader) -> None:
    for key, why in _RETIRED.items():
        if key in reader.table:
            raise reader.error(key, f"no longer used: {why}")


def _resident(reader: TableReader, demo_profile: bool = False) -> Resident:
    rid = reader.text("id")
    if not _ID_RE.match(rid):
        raise reader.error("id", f"{rid!r}: use 1-32 of a-z 0-9 _ - (it appears in alarm ids)")
    account = reader.text("arc_account")
    if not re.fullmatch(r"[0-9A-Fa-f]{3,16}", account):
        # SIA DC-09 §5.5.1.6: the account is 3-16 hex digits.
        raise reader.error("arc_account", f"{account!r}: an ARC account is 3-16 hex digits "
                           "(SIA DC-09 §5.5.1.6); ask the alarm centre for it")
    tz = reader.text("timezone", "Europe/Oslo")
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise reader.error("timezone", f"unknown time zone {tz!r} (use an IANA name such as "
                           "Europe/Oslo)") from None
    _reject_retired(reader)
    section = reader.sub("thresholds")
    _reject_retired(section)
    thresholds = _dataclass_section(section, Thresholds,
                                    _DEMO_THRESHOLD_RANGES if demo_profile else _THRESHOLD_RANGES)
    for cell in ("battery", "aa", "coin_cell"):
        if getattr(thresholds, f"{cell}_ok_mv") <= getattr(thresholds, f"{cell}_low_mv"):
            raise reader.error(f"thresholds.{cell}_ok_mv", f"must be above {cell}_low_mv "
                               "(hysteresis)")
    for low, high in (("still_floor_min", "still_ceiling_min"),
                      ("outing_floor_h", "outing_ceiling_h"), ("nap_floor_h", "nap_ceiling_h")):
        if getattr(thresholds, low) > getattr(thresholds, high):
            raise reader.error(f"thresholds.{high}", f"{getattr(thresholds, high):g} is below "
                               f"{low} ({getattr(thresholds, low):g}): raise it or lower {low}")
    defaults = Resident(id=rid, arc_account=account)
    resident = Resident(
        id=rid, arc_account=account, timezone=tz,
        night_start=reader.clock("night_start", defaults.night_start),
        night_end=reader.clock("night_end", defaults.night_end),
        latest_rise=reader.clock("latest_rise", defaults.latest_rise),
        latest_rise_max=reader.clock("latest_rise_max", defaults.latest_rise_max),
        latest_bedtime=reader.clock("latest_bedtime", defaults.latest_bedtime),
        latest_bedtime_max=reader.clock("latest_bedtime_max", defaults.latest_bedtime_max),
        bathroom_rooms=reader.strings("bathroom_rooms", defaults.bathroom_rooms),
        thresholds=thresholds,
    )
    if resident.night_start == resident.night_end:
        raise reader.error("night_end", "equals night_start: the night would be empty (it may "
                           "wrap midnight, e.g. 22:00 to 07:00)")
    if resident.latest_rise > resident.latest_rise_max:
        raise reader.error("latest_rise_max", f"{resident.latest_rise_max:%H:%M} is before "
                           f"latest_rise ({resident.latest_rise:%H:%M}): set it later")
    if _after_noon(resident.latest_bedtime) > _after_noon(resident.latest_bedtime_max):
        raise reader.error("latest_bedtime_max", f"{resident.latest_bedtime_max:%H:%M} is "
                           f"before latest_bedtime ({resident.latest_bedtime:%H:%M}); both "
                           "count from noon, so 01:00 is later than 23:00")
    reader.finish()
    return resident


def _after_noon(clock: dt.time) -> int:
    """Minutes after noon, for evening clock times that may pass midnight."""
    return (clock.hour * 60 + clock.minute - 12 * 60) % (24 * 60)


def parse(data: Mapping[str, Any], source: str = "<config>",
          base_dir: Path | None = None) -> HubConfig:
    """Validate a parsed TOML document. Raises ``ConfigError`` naming the first bad key."""
    root = TableReader(source, "", dict(data))
    hub = root.sub("hub")
    hub_id = hub.text("id")
    if not _ID_RE.match(hub_id):
        raise hub.error("id", f"{hub_id!r}: use 1-32 of a-z 0-9 _ -")
    database = hub.text("database")
    if base_dir is not None and not Path(database).is_absolute():
        database = str(base_dir / database)
    tick_s = hub.number("tick_s", 15.0, 1.0, 300.0)
    demo_profile = hub.get("demo_profile", bool, False)
    hub.finish()

    mqtt = root.sub("mqtt")
    mqtt_cfg = MqttConfig(
        host=mqtt.text("host", "127.0.0.1"),
        port=mqtt.integer("port", 1883, 1, 65535),
        username=mqtt.text("username", "trygg-hub"),
        password_file=mqtt.text("password_file", ""),
        keepalive_s=mqtt.integer("keepalive_s", 30, 5, 3600),
        reconnect_s=mqtt.number("reconnect_s", 2.0, 0.1, 300.0),
        broker_lost_alarm_s=mqtt.number("broker_lost_alarm_s", 120.0, 1.0, 86400.0),
    )
    mqtt.finish()
    broker = _dataclass_section(root.sub("broker"), BrokerConfig, {
        "max_queued_messages": (100, 1_000_000), "session_expiry_days": (0.01, 3650),
        "admin_timeout_s": (0.5, 300)})
    ingest = _dataclass_section(root.sub("ingest"), IngestConfig, {
        "batch_max": (1, 10000), "device_rate_per_s": (0.01, 10000), "device_burst": (1, 100000),
        "rejected_alarm_count": (1, 100000), "rejected_window_s": (10, 86400)})
    commands = _dataclass_section(root.sub("commands"), CommandConfig, {
        "retry_initial_s": (0.1, 3600), "retry_max_s": (0.1, 86400), "expire_s": (1, 30 * 86400)})
    retention = _dataclass_section(root.sub("retention"), RetentionConfig, {
        "events_days": (1, 3650), "alarm_days": (1, 36500), "prune_interval_h": (0.01, 720)})
    disc = root.sub("discovery")
    discovery = DiscoveryConfig(enabled=disc.get("enabled", bool, True),
                                interfaces=disc.strings("interfaces", ()))
    disc.finish()
    bridge = _dataclass_section(root.sub("bridge"), BridgeConfig, {
        "baud": (1200, 3_000_000), "reopen_s": (0.05, 60), "queue_max": (1, 100_000),
        "wake_gap_s": (0.1, 3600)})

    root.used.add("residents")
    raw_residents = data.get("residents")
    if not isinstance(raw_residents, list) or not raw_residents:
        raise ConfigError(f"{source}: residents: at least one [[residents]] table is required")
    residents = tuple(_resident(TableReader(source, f"residents[{i}]", r), demo_profile)
                      for i, r in enumerate(raw_residents))
    seen: set[str] = set()
    for i, r in enumerate(residents):
        if r.id in seen:
            raise ConfigError(f"{source}: residents[{i}].id: {r.id!r} appears twice")
        seen.add(r.id)
        if r.thresholds.learn_days > retention.events_days:
            # The routine is relearned from the store after a restart: it must still hold
            # the days learned from.
            raise ConfigError(f"{source}: residents[{i}].thresholds.learn_days: "
                              f"{r.thresholds.learn_days:g} is more than retention.events_days "
                              f"({retention.events_days:g}): keep events at least as long")
    arc: ArcConfig | None = None
    if root.has("arc"):
        arc_table = root.get("arc", dict, {})
        if arc_table:
            # Checked now, so a typo in the alarm link stops the hub at start, not at the first
            # alarm; ArcConfigError is a ConfigError naming file and key.
            arc = load_arc_config(arc_table, "[arc]", source=source)
    else:
        root.used.add("arc")
    root.finish()
    return HubConfig(hub_id=hub_id, database=database, residents=residents, mqtt=mqtt_cfg,
                     broker=broker, ingest=ingest, commands=commands, retention=retention,
                     discovery=discovery, bridge=bridge, tick_s=tick_s, arc=arc, source=source,
                     demo_profile=demo_profile)


def load(path: str | Path) -> HubConfig:
    """Read and validate a TOML file. Raises ``ConfigError`` (also for unreadable files)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    return parse(data, str(p), p.parent)


EXAMPLE_PATH = Path(__file__).with_name("hub.example.toml")
