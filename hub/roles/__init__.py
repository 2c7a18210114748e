"""Device roles as the hub and the tools see them: one description per role.

A role lives in two runtimes, so it has two modules, each declared once:

- ``firmware/roles/<name>.py`` (MicroPython, on the device) declares what the firmware needs:
  which of its events are urgent or routine, the signals a board wires, its settings with
  their defaults, its commands -- and is the role's code;
- ``hub/roles/<name>.py`` (here) declares what the hub and the tools need besides: what the
  role is called, what a technician does to pass the walk test, what a simulated board's
  control channel does to play it, the settings that make it answer at once in benchmarks
  and tests, and what the alarm centre reads when it calls for help.

What the device module declares is not repeated here: :meth:`RoleDescription.device` reads
it from that module's source, whose declarations are plain literals (firmware/roles/base.py),
without running it. The role names and their order are protocol.messages.ROLES, the wire's
list. Nothing here imports the rest of the hub or the tools: the rules, the CLI, provisioning,
the walk test, the simulator and the benchmarks read this; the rules get what they need of it
through their configuration (``DeviceInfo``), built by the hub's shell.
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trygg.protocol import messages


class RoleError(ValueError):
    """A role's declaration is missing or malformed; the message names the file and what."""


@dataclass(frozen=True)
class Stimulus:
    """One thing a simulated board's control channel can do to a device of this role."""

    command: str  # a control line (hw/sim/hal.py): "pin <signal> <0|1>", "pulse ...", "adc ..."
    event: str | None  # the event the device reports for it; None: none (a release, a reset)
    action: str  # what it stands for, in a technician's words


@dataclass(frozen=True)
class DeviceFacts:
    """What the role's firmware module declares (firmware/roles/base.py)."""

    urgent: tuple[str, ...]
    report: tuple[str, ...]
    signals: tuple[str, ...]
    settings: Mapping[str, Any]  # name -> default
    local_settings: frozenset[str]  # of those, the ones the hub cannot change (not on the wire)
    commands: tuple[str, ...]
    # The transport: "mqtt" (Wi-Fi), "espnow" (a battery device through the bridge), "serial_link"
    # (the bridge itself).
    link: str = "mqtt"


@dataclass(frozen=True)
class RoleDescription:
    name: str  # as on the wire (protocol.messages.ROLES)
    title: str  # what it is, in a technician's words
    walk_hint: str  # what the technician does to trigger it in the walk test
    pass_events: tuple[str, ...]  # any of these from the device passes the walk test
    # What a simulated board's control channel does to play the role (`trygg sim board`
    # lists them; tests play the walk test with them).
    stimuli: tuple[Stimulus, ...]
    # The stimuli `trygg bench firmware` times, in turn: each reports its event at once under
    # quick_settings. None: the benchmark has a cycle of its own for the role.
    bench_stimuli: tuple[Stimulus, ...] = ()
    # Settings under which every stimulus is reported at once (no hold-off or hold times):
    # for benchmarks and tests, never for a home.
    quick_settings: Mapping[str, Any] = field(default_factory=dict)
    # What the alarm centre reads when the device calls for help (its ``button`` event), if
    # not the assistance rule's own words (hub/rules/assistance.py).
    call_text: str | None = None
    # The cell the role's hardware runs on when its hello says "battery" (its board file's BOM;
    # the low-battery limits are the resident's thresholds for it): "li_ion" (a Wi-Fi board's
    # battery build or backup), "aa_lithium" (2 lithium AA in series), "coin_cell" (CR2032),
    # or "none" (powered by the hub's USB port: never a low battery).
    cell: str = "li_ion"
    # It can prompt the resident (a light, a buzzer, a voice) and her answer is its ``button``
    # event: the rules may then ask her before calling the centre about a doubtful condition
    # (hub/rules/local_check.py). The hub sends the prompt as the device's command.
    prompts: bool = False

    def device(self) -> DeviceFacts:
        """What the role's firmware module declares, read from its source."""
        return device_facts(self.name)


@functools.cache
def roles() -> dict[str, RoleDescription]:
    """Every role's description, in the wire's order (protocol.messages.ROLES)."""
    found: dict[str, RoleDescription] = {}
    for name in messages.ROLES:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError:
            raise RoleError(f"role {name!r} (protocol.messages.ROLES) has no description: "
                            f"add hub/roles/{name}.py") from None
        described = getattr(module, "ROLE", None)
        if not isinstance(described, RoleDescription) or described.name != name:
            raise RoleError(f"hub/roles/{name}.py: ROLE must be a RoleDescription named "
                            f"{name!r}")
        if described.cell not in CELLS:
            raise RoleError(f"hub/roles/{name}.py: cell {described.cell!r} (one of "
                            f"{', '.join(CELLS)})")
        found[name] = described
    return found


def describe(name: str) -> RoleDescription:
    """The description of role ``name``; RoleError naming the known roles."""
    described = roles().get(name)
    if described is None:
        raise RoleError(f"unknown role {name!r} (roles: {', '.join(roles())})")
    return described


CELLS = ("li_ion", "aa_lithium", "coin_cell", "none")


def cell(role: str) -> str:
    """The cell of ``role``'s hardware (RoleDescription.cell); "li_ion" for a role this hub has
    no description of (held to the strictest limits: no low battery is missed)."""
    described = roles().get(role)
    return described.cell if described is not None else "li_ion"


def call_text(role: str) -> str | None:
    """What the centre reads when a device of ``role`` calls for help; None: the assistance
    rule's own words (also for a role this hub has no description of: a call is never lost
    to a missing description)."""
    described = roles().get(role)
    return described.call_text if described is not None else None


def prompts(role: str) -> bool:
    """Whether a device of ``role`` can prompt the resident and take her answer (False for a
    role this hub has no description of)."""
    described = roles().get(role)
    return described.prompts if described is not None else False


def foreign_settings(role: str) -> frozenset[str]:
    """Settings other roles declare and ``role`` does not: a device of ``role`` refuses them."""
    own = describe(role).device().settings
    return frozenset(name for other in roles() if other != role
                     for name in device_facts(other).settings if name not in own)


def command_problem(role: str, body: Mapping[str, Any]) -> str | None:
    """Why a device of ``role`` would refuse the hub command ``body`` (already valid on the
    wire), or None: a command or a setting of another role."""
    name = body.get("command")
    others = {c: r for r in roles() if r != role for c in device_facts(r).commands}
    if name in others and name not in describe(role).device().commands:
        return f"{name}: a command of {others[name]} devices, not of {role} devices"
    if name == "set_config":
        foreign = sorted(foreign_settings(role) & set(body.get("config") or ()))
        if foreign:
            own = ", ".join(describe(role).device().settings) or "none"
            return (f"{', '.join(foreign)}: not a setting of {role} devices (their own: "
                    f"{own})")
    return None


# -- reading the firmware module ----------------------------------------------------------

# Class attribute of the firmware's Role -> its value when the role does not declare it
# (firmware/roles/base.py).
_DECLARATIONS: dict[str, Any] = {"NAME": "", "URGENT": (), "REPORT": (), "SIGNALS": (),
                                 "CONFIG": {}, "COMMANDS": (), "link": "mqtt"}
# A role's ``link`` names its transport's class (firmware/roles/base.py); Wi-Fi when absent.
_LINKS = {"EspNowLink": "espnow", "SerialLink": "serial_link"}


def link_of(link_class: str | None) -> str:
    """The transport ("mqtt", "espnow", "serial_link") of a role whose ``link`` is the class
    named ``link_class`` (None: not declared, Wi-Fi); RoleError for another class."""
    if link_class is None:
        return "mqtt"
    if link_class not in _LINKS:
        raise RoleError(f"link {link_class!r}: one of {', '.join(_LINKS)}")
    return _LINKS[link_class]


@functools.cache
def link_settings(link_class: str) -> dict[str, Any]:
    """The settings the link class ``link_class`` declares for every role on it (its
    ``CONFIG``, e.g. EspNowLink's in firmware/espnow.py), read from its source as a role's
    are; {} when it declares none. RoleError naming the file when it is not a plain literal."""
    transport = link_of(link_class)
    where = f"firmware/{transport}.py"
    path = firmware_path(f"{transport}.py")
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), where)
    except OSError as exc:
        raise RoleError(f"{where}: {exc.strerror}: the module of link {link_class}") from None
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == link_class:
            for item in node.body:
                if (isinstance(item, ast.Assign) and len(item.targets) == 1
                        and isinstance(item.targets[0], ast.Name)
                        and item.targets[0].id == "CONFIG"):
                    try:
                        config = ast.literal_eval(item.value)
                    except ValueError:
                        raise RoleError(f"{where}:{item.lineno}: {link_class}.CONFIG must be a "
                                        "plain literal (the hub reads it without running the "
                                        "module)") from None
                    if not isinstance(config, dict):
                        raise RoleError(f"{where}:{item.lineno}: {link_class}.CONFIG must be "
                                        "a dict")
                    return config
            return {}
    raise RoleError(f"{where}: no class {link_class}")


def firmware_path(module: str) -> Path:
    """The source of firmware module ``module`` ("espnow.py", "roles/bed.py"), wherever trygg
    is installed (found without importing it: it needs MicroPython)."""
    spec = importlib.util.find_spec("trygg.firmware")
    if spec is None or not spec.submodule_search_locations:
        raise RoleError("trygg.firmware is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / module


def firmware_role_path(name: str) -> Path:
    """The source of role ``name``'s firmware module."""
    return firmware_path(f"roles/{name}.py")


@functools.cache
def device_facts(name: str) -> DeviceFacts:
    """Read role ``name``'s declarations from firmware/roles/<name>.py; RoleError naming the
    file and the declaration that is not a plain literal."""
    path = firmware_role_path(name)
    where = f"firmware/roles/{name}.py"
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), where)
    except OSError as exc:
        raise RoleError(f"{where}: {exc.strerror}: role {name!r} needs a firmware module") \
            from None
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    role_class = None
    for node in tree.body:
        if (isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == ["ROLE"]
                and isinstance(node.value, ast.Name)):
            role_class = classes.get(node.value.id)
    if role_class is None:
        raise RoleError(f"{where}: no `ROLE = <class>` naming a class of the module")
    if [ast.unparse(b) for b in role_class.bases] != ["Role"]:
        raise RoleError(f"{where}: {role_class.name} must derive from Role directly (its "
                        "declarations are read from this class alone)")
    found = dict(_DECLARATIONS)
    link_config: dict[str, Any] = {}
    for node in role_class.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if not isinstance(target, ast.Name) or target.id not in found:
            continue
        if target.id == "link":
            if not isinstance(value, ast.Name) or value.id not in _LINKS:
                raise RoleError(f"{where}:{node.lineno}: {role_class.name}.link must name one "
                                f"of {', '.join(_LINKS)}")
            found["link"] = link_of(value.id)
            link_config = link_settings(value.id)
            continue
        try:
            found[target.id] = ast.literal_eval(value)
        except ValueError:
            raise RoleError(f"{where}:{node.lineno}: {role_class.name}.{target.id} must be a "
                            "plain literal (the hub reads it without running the module)") \
                from None
    if found["NAME"] != name:
        raise RoleError(f"{where}: {role_class.name}.NAME is {found['NAME']!r}, not {name!r}")
    again = sorted(set(link_config) & set(found["CONFIG"]))
    if again:
        raise RoleError(f"{where}: {role_class.name}.CONFIG: {', '.join(again)}: declared by "
                        f"its link (firmware/{found['link']}.py): leave them out here")
    # The role's settings and its link's, as firmware/config.py merges them.
    config = {**found["CONFIG"], **link_config}
    settings = {key: spec[0] if isinstance(spec, tuple) else spec
                for key, spec in config.items()}
    local = frozenset(key for key, spec in config.items() if isinstance(spec, (tuple, str)))
    return DeviceFacts(tuple(found["URGENT"]), tuple(found["REPORT"]), tuple(found["SIGNALS"]),
                       settings, local, tuple(found["COMMANDS"]), str(found["link"]))


def wifi_roles() -> tuple[str, ...]:
    """The roles on Wi-Fi (MQTT): what `trygg bench firmware`, the heap test and the
    simulated boards on a broker run; the battery roles and the bridge run through the
    ESP-NOW medium instead (tools/sim/espnow_home.py, `trygg bench energy`)."""
    return tuple(name for name in roles() if device_facts(name).link == "mqtt")
