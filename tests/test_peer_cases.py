"""cablemap's recipient expectations, mapped onto our parser's fields."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from router import Cable, parse_cable

DTG = "R 010000Z JAN 09\n"
FM = "FM AMEMBASSY FOOBAR\n"


def as_cable(header: str) -> Cable:
    """Make a cable of one of cablemap's bare header snippets by adding a DTG and FM line."""
    if not header.lstrip().startswith(("R ", "O ", "P ", "Z ")) or "\nFM " not in header:
        header = (DTG if "\nFM " in "\n" + header else DTG + FM) + header
    return parse_cable(header)


def as_cablemap(cable: Cable, role: str) -> list[dict[str, Any]]:
    """Our addressees in cablemap's shape: route, name, precedence as written, mcn, excluded."""
    out = []
    for addressee in cable.to if role == "to" else cable.info:
        written = addressee.written_precedence.value if addressee.written_precedence else None
        if addressee.niact:
            written = f"NIACT {written}"
        out.append(
            {
                "route": addressee.ri,
                "name": addressee.name,
                "precedence": written,
                "mcn": addressee.mcn,
                "excluded": [x.name for x in cable.xmt if x.collective == addressee.name],
            }
        )
    return out


def recipient_cases(path: Path) -> list[dict[str, Any]]:
    cases = json.loads(path.read_text())
    return [c for c in cases if c["category"] in {"to_recipients", "info_recipients"}]


def test_every_recipient_case_passes(peer_cases_file: Path) -> None:
    """All 15 TO/INFO cases pass, the 3 XMT cases cablemap's own code fails included."""
    cases = recipient_cases(peer_cases_file)
    assert len(cases) == 15
    failures = []
    for case in cases:
        role = "to" if case["category"] == "to_recipients" else "info"
        got = as_cablemap(as_cable(case["input"]), role)
        if got != case["expected"][role]:
            failures.append((case["source"], got, case["expected"][role]))
    assert failures == []


@pytest.mark.parametrize("role", ["to", "info"])
def test_xmt_exempts_and_is_never_an_addressee(role: str) -> None:
    """Posts after XMT are exemptions of the collective above, not addressees (FL9)."""
    verb = "TO" if role == "to" else "INFO"
    cable = as_cable(
        f"{FM}{verb} RUEHX/EUROPEAN POLITICAL COLLECTIVE\nXMT/AMEMBASSY SOFIA\nAMEMBASSY BUCHAREST\n"
    )
    assert [a["name"] for a in as_cablemap(cable, role)] == ["EUROPEAN POLITICAL COLLECTIVE"]
    assert [x.name for x in cable.xmt] == ["AMEMBASSY SOFIA", "AMEMBASSY BUCHAREST"]
