"""The rules: pure functions from stored events and time to alarm decisions.

One module per rule family -- ``smoke``, ``possible_fall``, ``inactivity``, ``medication``,
``device_supervision``, ``assistance`` -- plus ``presence`` (activity and away) that several
use; ``engine`` dispatches; ``alarm_book`` keeps one open alarm per kind and resident or device.
``resident`` is the rules' own model of whom they watch (built from TOML by ``trygg.hub.config``).

The core imports nothing else from the hub (no configuration files, store, network or clock):
tests/hub/test_rules_purity.py keeps it so.
"""

from .engine import RulesEngine, occurred_at, replay
from .model import (
    PRIORITY,
    Action,
    DeviceInfo,
    Event,
    RaiseAlarm,
    ResolveAlarm,
    RulesConfig,
    State,
    Tick,
)
from .resident import Resident, Thresholds

__all__ = ["PRIORITY", "Action", "DeviceInfo", "Event", "RaiseAlarm", "Resident", "ResolveAlarm",
           "RulesConfig", "RulesEngine", "State", "Thresholds", "Tick", "occurred_at", "replay"]
