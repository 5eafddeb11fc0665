"""The command line: a thin typer layer over the rest."""

from router.cli.main import app

__all__ = ["app"]
