"""One list of alarm kinds (``trygg.hub.rules.alarm_kinds``) holds the rules, the alarm report,
every centre protocol's code table and the README's operator tables together."""

from __future__ import annotations

from support import mpy
from trygg.hub.arc import codes, protocols, report
from trygg.hub.rules import alarm_kinds, model

README = mpy.REPO_ROOT / "hub" / "arc" / "README.md"


def test_rules_priorities_are_the_declared_ones() -> None:
    for name, kind in alarm_kinds.KINDS.items():
        assert model.PRIORITY[name] == kind.priority, name
    # Every kind constant the rules name is declared.
    constants = {v for k, v in vars(model).items() if k.isupper() and isinstance(v, str)
                 and v in model.PRIORITY}
    assert constants <= set(alarm_kinds.KINDS)


def test_alarm_reports_accept_exactly_the_declared_kinds() -> None:
    assert set(report.KINDS) | set(report.FORWARDER_KINDS) == set(alarm_kinds.KINDS)
    assert set(alarm_kinds.RULE_KINDS) <= set(report.KINDS)


def test_every_kind_has_a_dc09_code_with_the_declared_priority_and_words() -> None:
    missing = set(alarm_kinds.KINDS) - set(codes.DC09_CODES)
    assert not missing, (f"kinds without a DC-09 code: {sorted(missing)}: add a row to "
                         "DC09_CODES in hub/arc/codes.py")
    for name, kind in alarm_kinds.KINDS.items():
        row = codes.CODES[name]
        assert (row.priority, row.title, row.urgency) == (kind.priority, kind.title,
                                                          kind.urgency)


def test_every_registered_protocol_has_a_code_for_every_kind() -> None:
    for protocol in protocols.all_protocols():
        missing = set(alarm_kinds.KINDS) - set(protocol.codes)
        assert not missing, (f"protocol {protocol.name}: no code for {sorted(missing)}: add "
                             "them to its code table (see its module under "
                             "hub/arc/protocols/)")


def test_readme_operator_tables_are_generated_from_the_list() -> None:
    text = README.read_text(encoding="utf-8")
    tables = [("alarm_kinds.operator_table_markdown()", alarm_kinds.operator_table_markdown())]
    tables += [(f"arc.protocols.get({p.name!r}).code_table_markdown()",
                p.code_table_markdown()) for p in protocols.all_protocols()]
    for name, table in tables:
        assert table in text, (f"README is out of date: paste the output of trygg.hub.{name} "
                               "into its 'Alarm receiving centre' section")
