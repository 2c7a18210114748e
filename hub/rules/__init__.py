"""The rules: pure functions from stored events and time to alarm decisions.

One module per rule family -- ``smoke``, ``possible_fall``, ``inactivity``, ``medication``,
``device_supervision``, ``assistance`` -- plus ``presence`` (activity and away) that several
use; ``engine`` dispatches; ``alarm_book`` keeps one open alarm per kind and resident or device.
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

__all__ = ["PRIORITY", "Action", "DeviceInfo", "Event", "RaiseAlarm", "ResolveAlarm",
           "RulesConfig", "RulesEngine", "State", "Tick", "occurred_at", "replay"]
