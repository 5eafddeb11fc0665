"""The defaults the package ships: the routing table, the network description, the scenarios.

In a checkout ``router/config`` is a link to the repository's ``config/`` (the files one edits and
commits); a wheel holds a copy of them as package data, so that `router route` or `router demo`
work from any folder after ``pip install``.
"""

from __future__ import annotations

from pathlib import Path

SHIPPED = Path(__file__).resolve().parents[1] / "config"
"""The folder of the shipped defaults."""
