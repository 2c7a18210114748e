"""Alarm forwarding from the hub to alarm receiving centres (ARCs), in each centre's protocol.

The hub hands every alarm to :class:`ArcForwarder` as an :class:`AlarmReport`;
``submit`` returns once the report is durably in the ARC outbox, and the
forwarder keeps it there until a receiver has it. The protocols (SIA DC-09, ...) are
modules behind one seam: ``protocol.py`` says what a protocol offers, ``protocols/`` lists them.
"""

from .config import ArcConfig, ArcConfigError, load_arc_config
from .forwarder import ArcForwarder, DeliveryCallback, LinkCallback
from .protocol import ReceiverConfig
from .report import EVENTS, KINDS, AlarmReport
from .testalarm import ArcTestResult, run_test_alarm

__all__ = [
    "EVENTS",
    "KINDS",
    "AlarmReport",
    "ArcConfig",
    "ArcConfigError",
    "ArcForwarder",
    "ArcTestResult",
    "DeliveryCallback",
    "LinkCallback",
    "ReceiverConfig",
    "load_arc_config",
    "run_test_alarm",
]
