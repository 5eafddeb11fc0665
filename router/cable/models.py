"""Typed, immutable values for what a cable says: precedence, classification, addressees, the cable."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
"""The months as a date-time group writes them (ACP 121: ``DDHHMMZ MON YY``), January first."""
MONTH_NAMES = (
    "JANUARY", "FEBRUARY", "MARCH", "APRIL", "MAY", "JUNE",
    "JULY", "AUGUST", "SEPTEMBER", "OCTOBER", "NOVEMBER", "DECEMBER",
)  # fmt: skip
"""The months written out, January first, as a cable's text may name them."""


class _Ranked(enum.Enum):
    """An enum whose members compare by their rank (declaration order), not by their value."""

    rank: int

    def __init__(self, _value: str) -> None:
        # Members are created in declaration order: the ones before this one give its rank.
        self.rank = len(type(self).__members__)

    # Members are singletons, so identity hashing is exact (and much cheaper than Enum's own).
    __hash__ = object.__hash__

    def __lt__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.rank >= other.rank


class Precedence(_Ranked):
    """Handling order of a cable (ACP 127 §151): ECP > FLASH > IMMEDIATE > PRIORITY > ROUTINE."""

    ROUTINE = "ROUTINE"
    PRIORITY = "PRIORITY"
    IMMEDIATE = "IMMEDIATE"
    FLASH = "FLASH"
    ECP = "ECP"

    @property
    def letter(self) -> str:
        """The prosign letter written on FL2 and the DTG line (R, P, O, Z, Y)."""
        return _PRECEDENCE_LETTERS[self]

    @classmethod
    def from_letter(cls, letter: str) -> Self:
        """The precedence a prosign letter stands for; ``KeyError`` for any other letter."""
        return cls(_LETTER_PRECEDENCES[letter])


_FLASH_RANK = Precedence.FLASH.rank


def needs_receipt(precedence: Precedence, *, niact: bool) -> bool:
    """FLASH and ECP must be receipted by the post, and so must NIACT (DOMAIN, Precedence)."""
    return niact or precedence.rank >= _FLASH_RANK  # the rank itself: twice a copy, no comparison call


class Classification(_Ranked):
    """Security level of a cable: UNCLASSIFIED < RESTRICTED < CONFIDENTIAL < SECRET < TOP SECRET.

    RESTRICTED is the allies' level below CONFIDENTIAL (ACP 127 §124b: ``ZNY RRRRR``); US traffic
    does not use it, but a US switch relays it, over channels approved for it.
    """

    UNCLASSIFIED = "UNCLASSIFIED"
    RESTRICTED = "RESTRICTED"
    CONFIDENTIAL = "CONFIDENTIAL"
    SECRET = "SECRET"  # noqa: S105 (a level, not a password)
    TOP_SECRET = "TOP SECRET"  # noqa: S105


_PRECEDENCE_LETTERS = {
    Precedence.ROUTINE: "R",
    Precedence.PRIORITY: "P",
    Precedence.IMMEDIATE: "O",
    Precedence.FLASH: "Z",
    Precedence.ECP: "Y",
}
_LETTER_PRECEDENCES = {letter: p.value for p, letter in _PRECEDENCE_LETTERS.items()}

Family = Literal["acp127", "acp126", "partial"]


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def read_as(cls, fields: dict[str, Any]) -> Self:
        """The value of ``fields`` as a reader built them: every field, in order, each of its exact type.

        Not validated again: the parser makes each field itself, and checking them once more was
        the largest single part of its work on the switch's hot path. Anything from outside (the
        journal's JSON, a request) goes through pydantic's validation; the tests hold what the
        parser makes equal to its strict validation over the whole corpus (tests/test_corpus.py).
        """
        value = cls.__new__(cls)
        _set(value, "__dict__", fields)
        _set(value, "__pydantic_fields_set__", set(fields))
        _set(value, "__pydantic_extra__", None)
        _set(value, "__pydantic_private__", None)
        return value


_set = object.__setattr__
"""A frozen model's attributes are set this way (pydantic's own `model_construct` does too)."""


class StationSerial(_Value):
    """FL3, the DE line: originating station, station serial number, section and filing time (§116)."""

    originating_ri: str
    ssn: int
    position: str | None = None
    """The letter of the position that allotted the serial, where several do (§129: ``177C``)."""
    section: int | None = None
    filing_time: str
    """Julian day and zulu time as written, DDDHHMM (``1610901`` = day 161, 09:01Z)."""


class Addressee(_Value):
    """One TO or INFO addressee line: ``[ZEN/][RI/]NAME[//OFFICE//] [POUCH] [NIACT] [PRECEDENCE] [MCN]``."""

    name: str
    ri: str | None = None
    office: str | None = None
    """Office symbols written after ``//`` (``DIA WASHINGTON DC//DHO-2//``), kept apart from the name."""
    precedence: Precedence
    """Effective precedence: the addressee's own word if written, else the DTG's action/info letter."""
    written_precedence: Precedence | None = None
    niact: bool = False
    mcn: str | None = None
    """State's message continuity number (5 FAH-2 H-321.7), as written: ``4887`` or a range ``2276-2279``."""
    zen: bool = False
    """``ZEN/``: already delivered by other means, not to be delivered again (§206b)."""
    pouch: bool = False
    """``POUCH`` after the name: the post gets the cable by diplomatic pouch, not over the network."""
    line: int
    """1-based line of the input the addressee starts on."""


class Exemption(_Value):
    """An XMT line (FL9): a station exempted from the collective addressed above it (§205)."""

    name: str
    ri: str | None = None
    collective: str | None = None
    """The addressee (normally a collective) the exemption follows."""
    line: int


class Declassification(_Value):
    """The E.O. line of the text: the executive order and the declassification date or rule."""

    executive_order: str | None = None
    deadline: date | None = None
    rule: str | None = None
    """What follows DECL: when it is not a date (``OADR``, ``1.6 X1``, ``N/A``)."""


class Cable(_Value):
    """One cable as read: its routing header (when it has one), identity, security and text fields."""

    family: Family
    message_id: str
    """RI + SSN (+ section) + filing time when there is a DE line (ACP 127 §116); else a digest."""
    transmission_id: str | None = None
    """FL1 as written (``VZCZCXRO1706``): V + ZCZC + channel designator + channel serial."""
    relay_precedence: Precedence | None = None
    relay_ris: tuple[str, ...] = ()
    """FL2: the routing indicators of the stations that must deliver the cable."""
    station_serial: StationSerial | None = None
    precedence: Precedence | None = None
    """Action precedence: the first (or only) letter of the DTG line."""
    info_precedence: Precedence | None = None
    """Info precedence: the second letter of a dual-precedence DTG line, else the action precedence."""
    dtg: datetime | None = None
    originator: str | None = None
    originator_ri: str | None = None
    to: tuple[Addressee, ...] = ()
    info: tuple[Addressee, ...] = ()
    xmt: tuple[Exemption, ...] = ()
    classification: Classification | None = None
    """The higher of the FL4 security warning and the text banner (a switch errs on the safe side)."""
    security_warning: Classification | None = None
    banner_classification: Classification | None = None
    classification_conflict: bool = False
    """FL4 and the banner name different levels."""
    caveats: tuple[str, ...] = ()
    reference: str | None = None
    """Cablegate-style reference built from the banner and the DTG year (``08TOKYO1571``)."""
    subject: str | None = None
    tags: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    """Cables named on the REF line, as references (``08TOKYO1548``)."""
    declassification: Declassification | None = None
    header_lines: int = 0
    """How many input lines the routing header takes; the text starts after them."""

    @property
    def addressees(self) -> tuple[Addressee, ...]:
        """Every TO and INFO addressee, in the order written."""
        return self.to + self.info
