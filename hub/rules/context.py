"""The working context of one engine step: configuration, state, the time and the actions."""

from __future__ import annotations

from dataclasses import dataclass, field

from .local_time import LocalDays
from .model import Action, DeviceInfo, Layout, RulesConfig, State
from .resident import Resident


@dataclass(slots=True)
class Context:
    config: RulesConfig
    state: State
    now: float
    days: dict[str, LocalDays]
    generation: int = 0  # of the configuration (see State.silence_generation)
    layouts: dict[str, Layout] = field(default_factory=dict)
    actions: list[Action] = field(default_factory=list)

    def layout(self, resident_id: str) -> Layout:
        return self.layouts.get(resident_id) or _NO_DEVICES

    def local_days(self, resident: Resident) -> LocalDays:
        d = self.days.get(resident.timezone)
        if d is None:
            d = self.days[resident.timezone] = LocalDays(resident.timezone)
        return d

    def device_info(self, device_id: str | None) -> DeviceInfo | None:
        return None if device_id is None else self.config.devices.get(device_id)


_NO_DEVICES = Layout(has_motion=False, has_bed=False, bed_room=None)
