"""``python -m router``: the command line."""

from router.cli import app

app()
