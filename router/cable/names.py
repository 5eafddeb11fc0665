"""Plain-language addresses brought to one spelling, so that a name in a cable finds its station."""

from __future__ import annotations

import re
from functools import lru_cache

# Spellings of one thing in real traffic (WASHDC = WASHINGTON DC, AMEMBASSY = AMEMB ...).
_PHRASES = (
    (re.compile(r"\bWASH(?:INGTON)?\.?\s*D\.?\s*C\b\.?"), "WASHINGTON DC"),
    (re.compile(r"\bWASHDC\b"), "WASHINGTON DC"),
    (re.compile(r"\bAM(?:E|M)?M?BAS+Y\b|\bAMEMB\b|\bAMEMBASY\b"), "AMEMBASSY"),
    (re.compile(r"\bAMCONGEN\b|\bAMCONSULATE\b|\bAMCONSUL\b"), "AMCONSUL"),
    (re.compile(r"\bUSMISSION\b|\bUSMISS\b"), "USMISSION"),
    (re.compile(r"\bDEPT\b\.?"), "DEPT"),
    (re.compile(r"\bDEPARTMENT\b"), "DEPT"),
    (re.compile(r"\bST\.\s*"), "SAINT "),
)
_PUNCTUATION = re.compile(r"[^A-Z0-9 ]+")
_BLANKS = re.compile(r"\s+")
# A trailing number is a stray MCN or serial (`SECSTATE WASHDC 475`), not part of a name.
_TRAILING_NUMBER = re.compile(r"(?:\s+\d+)+$")
# A command is addressed as itself, its headquarters or its commander: `USCENTCOM MACDILL AFB FL`,
# `HQ USCENTCOM MACDILL AFB FL` and `CDR USCENTCOM MACDILL AFB FL` are one station.
_COMMAND_TITLE = re.compile(r"^(?:HQ|CDR|COMMANDER) (?=\S+COM\b)")


@lru_cache(maxsize=16384)
def normalise_name(name: str) -> str:
    """One spelling for a plain-language address: upper case, one blank, common spellings unified.

    Office symbols after ``//`` are not part of the name; punctuation is dropped; WASHDC,
    WASHINGTON D.C. and WASH DC become WASHINGTON DC; AMEMB and AMMBASSY become AMEMBASSY.
    """
    text = name.upper().split("//", 1)[0]
    for pattern, spelling in _PHRASES:
        text = pattern.sub(spelling, text)
    text = _PUNCTUATION.sub(" ", text)
    text = _TRAILING_NUMBER.sub("", _BLANKS.sub(" ", text).strip())
    return _COMMAND_TITLE.sub("", text)


def one_slip_apart(a: str, b: str) -> bool:
    """True when one inserted, deleted, changed or swapped letter turns ``a`` into ``b``."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) < len(b):
        return a[i:] == b[i + 1 :]
    if a[i + 1 :] == b[i + 1 :]:
        return True
    return a[i : i + 2] == b[i : i + 2][::-1] and a[i + 2 :] == b[i + 2 :]
