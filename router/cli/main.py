"""The app under its former module name, for the tests that still import it from here (`router.cli.app`)."""

from __future__ import annotations

from router.cli import app

__all__ = ["app"]
