"""Hostile cables of the sizes the issue measured: for the tests and `benchmarks/hostile.py`."""

from __future__ import annotations

from collections.abc import Callable

ORIGIN = "RUEHRO"
"""The filing station of every cable here (Rome): a member of the European Political Collective."""
HEAD = (
    "VZCZCXYZ0001\nOO RUEHWEB\nDE RUEHRO #0877 3130915\nZNR UUUUU ZZH\nO 091500Z NOV 08\nFM AMEMBASSY ROME\n"
)
TEXT = "BT\nUNCLAS\nE.O. 12958: N/A\nTAGS: PREL\nSUBJECT: A HOSTILE CABLE\n\n1. NOTHING.\n"
COLLECTIVE = "RUEHZL/EUROPEAN POLITICAL COLLECTIVE"
EXEMPTED = ("AMEMBASSY PARIS", "AMEMBASSY LONDON", "AMEMBASSY BERLIN", "AMEMBASSY MADRID")
"""Members of the collective that the XMT lines exempt."""
MEGABYTE = 1 << 20


def nowhere(number: int, width: int = 0) -> str:
    """A station no table knows, one per number (letters only: a trailing number is no part of a name)."""
    letters = ""
    while True:
        number, digit = divmod(number, 26)
        letters += chr(ord("A") + digit)
        if not number:
            break
    return f"AMEMBASSY NOWHERE {letters}{'Q' * max(0, width - len(letters))}"


def long_info_name(size: int) -> str:
    """One INFO line whose name is ``size`` letters, after one TO line to the Department."""
    return f"{HEAD}TO RUEHC/SECSTATE WASHDC IMMEDIATE 4887\nINFO AMEMBASSY {'X' * size}\n{TEXT}"


def to_and_xmt(count: int, width: int = 0) -> str:
    """``count`` TO lines (the collective first, then unknown stations) and ``count - 1`` XMT lines.

    The XMT lines exempt four members of the collective, then name unknown stations; ``width``
    pads the unknown names, to reach a size.
    """
    to = [COLLECTIVE, *(nowhere(i, width) for i in range(count - 1))]
    xmt = [*EXEMPTED, *(nowhere(i, width) for i in range(count - 1 - len(EXEMPTED)))]
    return HEAD + "".join(f"TO {line}\n" for line in to) + "".join(f"XMT {line}\n" for line in xmt) + TEXT


def megabyte_mix() -> str:
    """A megabyte of everything at once: long names, thousands of TO and XMT lines, slips repeated."""
    parts = [
        HEAD,
        "TO RUEHC/SECSTATE WASHDC\n",
        f"TO AMEMBASSY {'Y' * 200_000}\n",
        f"TO AMEMBASSY PARIS {'IMMEDIATE ' * 20_000}\n",
        f"TO AMEMBASSY VIENNA {'PIORITY ' * 20_000}\n",
        f"INFO AMEMBASSY TOKYO{' 12' * 30_000}\n",
        f"INFO {COLLECTIVE}\n",
        *(f"INFO {nowhere(i, 60)}\n" for i in range(2_000)),
        *(f"XMT {name}\n" for name in EXEMPTED),
        *(f"XMT {nowhere(i, 60)}\n" for i in range(2_000)),
    ]
    text = "".join(parts)
    return text + f"INFO AMEMBASSY {'Z' * (MEGABYTE - len(text) - len(TEXT) - 16)}\n" + TEXT


CASES: dict[str, Callable[[], str]] = {
    "info name 160 KB": lambda: long_info_name(160 * 1024),
    "2,500 TO + 2,499 XMT (97 KB)": lambda: to_and_xmt(2_500),
    "2,500 TO + 2,499 XMT (1 MB)": lambda: to_and_xmt(2_500, width=180),
    "1 MB mix": megabyte_mix,
}
"""The cases `benchmarks/hostile.py` times, by name."""
