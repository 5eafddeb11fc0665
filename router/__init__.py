"""router: a store-and-forward cable switch (AUTODIN, the State telegram network) simulated on MQTT."""

from router.errors import CableParseError, RouterError
from router.models import (
    Addressee,
    Cable,
    Classification,
    Declassification,
    Exemption,
    Precedence,
    StationSerial,
)
from router.parser import parse_cable

__all__ = [
    "Addressee",
    "Cable",
    "CableParseError",
    "Classification",
    "Declassification",
    "Exemption",
    "Precedence",
    "RouterError",
    "StationSerial",
    "parse_cable",
]
