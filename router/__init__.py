"""router: a store-and-forward cable switch (AUTODIN, the State telegram network) simulated on MQTT."""

from router.cable.models import (
    Addressee,
    Cable,
    Classification,
    Declassification,
    Exemption,
    Precedence,
    StationSerial,
)
from router.cable.parser import parse_cable
from router.errors import CableParseError, RouterError

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
