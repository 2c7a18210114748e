"""The source stays layered: drawn from its imports (tests/support/layers.py), every edge goes
down. Each rule names the reason a newcomer would otherwise break it."""

from __future__ import annotations

import re

from support import layers
from support.mpy import REPO_ROOT


def _edges_from(prefix: str) -> dict[tuple[str, str], list[str]]:
    return {k: v for k, v in layers.edges().items()
            if k[0] == prefix or k[0].startswith(prefix + ".")}


def test_the_protocol_imports_nothing_of_the_project() -> None:
    # protocol/ is copied onto devices and imported by the hub: it stands on nothing.
    assert _edges_from("protocol") == {}


def test_device_code_imports_only_device_code() -> None:
    # firmware/ runs on the ESP32: it may use protocol/ and the HAL, never the hub or tools.
    for (source, target), modules in _edges_from("firmware").items():
        assert target.split(".")[0] in ("firmware", "protocol", "hw"), (source, target, modules)
        assert target not in ("hw.sim", "hw.rig"), (source, target, modules)


def test_nothing_on_a_device_imports_the_simulator_or_the_rig_except_the_hal_choice() -> None:
    # hw/select.py picks the simulated HAL on the unix port, and hw/low_power.py its deep-sleep
    # and radio half for battery devices (kept apart so Wi-Fi devices never load it); nothing
    # else on a device may reach hw/sim/ or hw/rig/, which the production image leaves out.
    for (source, target), modules in layers.edges().items():
        if target in ("hw.sim", "hw.rig") and source not in ("hw.sim", "hw.rig"):
            assert modules == ["hw.low_power", "hw.select"], (source, target, modules)


def test_the_hub_never_imports_the_tools() -> None:
    # No fake device or test console ships inside the hub package.
    for (source, target), modules in _edges_from("hub").items():
        assert not target.startswith("tools"), (source, target, modules)
        assert target.split(".")[0] in ("hub", "protocol"), (source, target, modules)


def test_the_hub_names_no_tools_module_even_as_a_string() -> None:
    # An import by name (importlib) is an edge the picture cannot see: which console serves
    # which centre protocol is the CLI's to say (tools/cli/arc.py CONSOLES), not the hub's.
    named = [f"{path.relative_to(REPO_ROOT)}:{n}" for path in (REPO_ROOT / "hub").rglob("*.py")
             for n, line in enumerate(path.read_text().splitlines(), 1)
             if re.search(r"trygg\.tools\b|[\"']tools\.(sim|cli|bench)", line)]
    assert named == []


def test_the_simulators_are_used_by_tools_and_tests_only() -> None:
    for (source, target), modules in layers.edges().items():
        if target == "tools.sim":
            assert source.startswith("tools."), (source, target, modules)


def test_the_picture_finds_edges_that_exist() -> None:
    # Not vacuous: known imports are seen, relative ones included (hub/arc/outbox.py imports
    # ..private_files; tools.cli imports the device tools).
    found = layers.edges()
    assert "hub.arc.outbox" in found[("hub.arc", "hub")]
    assert ("tools.cli", "tools.device") in found
    assert ("firmware", "protocol") in found


def test_the_readme_picture_is_the_one_the_imports_draw() -> None:
    readme = (REPO_ROOT / "tools" / "README.md").read_text()
    drawn = re.search(r"```mermaid\n.*?```", readme, re.S)
    assert drawn is not None, "tools/README.md has no mermaid picture of the layers"
    assert drawn.group(0) == layers.mermaid(), (
        "the layers changed: paste `python tests/support/layers.py` into tools/README.md")


def test_the_rules_core_stands_on_nothing_of_the_hub() -> None:
    # Rules below configuration: the core is replayable on any machine (trygg hub replay,
    # trygg bench care) only while it reaches no config, store, link or clock.
    assert _edges_from("hub.rules") == {}
