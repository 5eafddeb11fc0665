"""Text for an operator's terminal: what came off the bus, its control characters made visible."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def visible(text: str) -> str:
    r"""``text`` with every control character made visible: ``^[`` for ESC, ``\x9b`` for C1's CSI.

    What comes off the bus (a cable's subject, a log event) is someone else's text: an escape
    sequence in it would rewrite the operator's screen, a carriage return hide what precedes it.
    """
    return _CONTROL.sub(_shown, text)


def _shown(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:  # C0: caret notation, as a terminal's own echo shows them
        return "^" + chr(code + 0x40)
    return "^?" if code == 0x7F else f"\\x{code:02x}"  # DEL, then C1
