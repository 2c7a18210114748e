"""The rules: pure functions from stored events and time to alarm decisions.

One module per rule family -- ``smoke``, ``possible_fall`` (stillness), ``inactivity`` (not up,
not in bed, not back as usual), ``medication``, ``device_supervision``, ``assistance`` -- plus
``presence`` (signs of life, the bed, away) and ``routine`` (what is learned of the resident
from the stored history) that several use; ``local_check`` asks the resident before a doubtful
care alarm goes to the centre; ``device_order`` applies each device's state events in its own
order; ``engine`` dispatches; ``alarm_book`` keeps the open alarms and one alarm per
episode; ``texts`` words them for the centre. ``resident`` is the rules' own model of whom they
watch (built from TOML by ``trygg.hub.config``).

The core imports nothing else from the hub (no configuration files, store, network or clock):
tests/hub/test_rules_purity.py keeps it so.
"""

from .engine import RulesEngine, occurred_at, replay
from .model import (
    PRIORITY,
    Action,
    DeviceInfo,
    Event,
    LocalCheck,
    LocalCheckEnded,
    RaiseAlarm,
    ResolveAlarm,
    RulesConfig,
    State,
    Tick,
)
from .resident import Resident, Thresholds

__all__ = ["PRIORITY", "Action", "DeviceInfo", "Event", "LocalCheck", "LocalCheckEnded",
           "RaiseAlarm", "Resident", "ResolveAlarm", "RulesConfig", "RulesEngine", "State",
           "Thresholds", "Tick", "occurred_at", "replay"]
