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

__all__ = ["EXAMPLE_PATH", "ConfigError", "HubConfig", "Resident", "Thresholds", "load", "parse"]

# The Nordic time zones the hub is tested with (any IANA zone is accepted).
NORDIC_ZONES = ("Europe/Oslo", "Europe/Stockholm", "Europe/Copenhagen", "Europe/Helsinki")

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class Thresholds:
    """Per-resident rule thresholds. Defaults with their reasons; README "Rules" repeats them."""

    # Night fall: a normal night-time toilet visit takes 5-15 minutes; 20 leaves margin for a
    # slow walker without leaving someone on the floor for long.
    bed_exit_return_min: float = 20.0
    # ... and no motion anywhere for this long since the last motion: a person walking about
    # triggers a PIR every minute or two; 15 quiet minutes away from bed is not normal at night.
    night_no_motion_min: float = 15.0
    # Bathroom fall: after motion in a bathroom, no motion anywhere for this long. A PIR sees
    # someone washing or on the toilet at least every few minutes; 40 covers a long bath.
    bathroom_no_motion_min: float = 40.0
    # Inactivity: no activity at home for this long inside the active hours. Four hours is the
    # common setting of Nordic safety-alarm services; shorter raises alarms for a nap.
    inactivity_hours: float = 4.0
    # Away inference: after the entrance door opened and closed, this long without motion inside
    # before the home counts as empty (a PIR sees someone who stayed within a minute or two).
    away_confirm_min: float = 10.0
    # Motion this soon after the door closed is the resident leaving the PIR's view, not staying.
    away_grace_s: float = 30.0
    # Medication: minutes after "dose due" before a dose not taken is reported missed; the
    # dispenser's own reminder window is 60 by default (device config dose_window_min) and the
    # hub waits a little longer so the device's own "dose_missed" normally comes first.
    dose_window_min: float = 75.0
    # Device supervision: a device is silent after this many heartbeat intervals without any
    # frame; three allows for two lost heartbeats (Wi-Fi roaming, a broker restart).
    silent_heartbeats: float = 3.0
    # Heartbeat interval assumed for a device whose interval the hub has not set (seconds);
    # matches the firmware default.
    heartbeat_s: float = 300.0
    # Low battery below this (mV), cleared above battery_ok_mv: the hysteresis keeps a battery
    # that sags under radio load from raising and clearing the notice every heartbeat.
    battery_low_mv: int = 3400
    battery_ok_mv: int = 3600
    # Dispenser stock at or below this many doses is a technical notice (a refill visit takes a
    # day to plan).
    stock_low_doses: int = 4


@dataclass(frozen=True)
class Resident:
    id: str
    arc_account: str
    timezone: str = "Europe/Oslo"
    # Night: from night_start to night_end (local time, may wrap midnight). The night fall rule
    # runs only then.
    night_start: dt.time = dt.time(22, 0)
    night_end: dt.time = dt.time(7, 0)
    # Active hours for the inactivity rule (local time).
    active_start: dt.time = dt.time(7, 0)
    active_end: dt.time = dt.time(22, 0)
    # Not up: still in bed at this local time (without having left it since night_end).
    latest_rise: dt.time = dt.time(10, 0)
    bathroom_rooms: tuple[str, ...] = ("bathroom",)
    thresholds: Thresholds = field(default_factory=Thresholds)

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


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
    "bed_exit_return_min": (1, 240), "night_no_motion_min": (1, 240),
    "bathroom_no_motion_min": (5, 480), "inactivity_hours": (0.5, 24),
    "away_confirm_min": (1, 120), "away_grace_s": (0, 600), "dose_window_min": (5, 720),
    "silent_heartbeats": (2, 100), "heartbeat_s": (10, 86400),
    "battery_low_mv": (2000, 5000), "battery_ok_mv": (2000, 5000), "stock_low_doses": (0, 255),
}
# [hub] demo_profile = true: the time thresholds may be as short as a few seconds, so the
# simulated-home demo (trygg demo) and its CI run show a night fall in seconds. Never for a
# real home: the hub logs a warning at every start.
_DEMO_THRESHOLD_RANGES = dict(_THRESHOLD_RANGES, **{
    name: (0.05, hi) for name, (_lo, hi) in _THRESHOLD_RANGES.items()
    if name.endswith(("_min", "_hours"))})


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
    thresholds = _dataclass_section(reader.sub("thresholds"), Thresholds,
                                    _DEMO_THRESHOLD_RANGES if demo_profile else _THRESHOLD_RANGES)
    if thresholds.battery_ok_mv <= thresholds.battery_low_mv:
        raise reader.error("thresholds.battery_ok_mv", "must be above battery_low_mv "
                           "(hysteresis)")
    resident = Resident(
        id=rid, arc_account=account, timezone=tz,
        night_start=reader.clock("night_start", dt.time(22, 0)),
        night_end=reader.clock("night_end", dt.time(7, 0)),
        active_start=reader.clock("active_start", dt.time(7, 0)),
        active_end=reader.clock("active_end", dt.time(22, 0)),
        latest_rise=reader.clock("latest_rise", dt.time(10, 0)),
        bathroom_rooms=reader.strings("bathroom_rooms", ("bathroom",)),
        thresholds=thresholds,
    )
    if resident.active_start >= resident.active_end:
        raise reader.error("active_end", "must be after active_start (same day)")
    reader.finish()
    return resident


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
                     discovery=discovery, tick_s=tick_s, arc=arc, source=source,
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
