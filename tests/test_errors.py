"""The one error hierarchy: every error class lives in router.errors, under RouterError."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import router
from router import errors
from router.errors import CableParseError, LocatedError, RouterError


def test_every_error_class_of_the_package_is_defined_in_router_errors() -> None:
    """No module but router.errors defines an exception class, and every one is a RouterError."""
    elsewhere = set()
    for module_info in pkgutil.walk_packages(router.__path__, "router."):
        if module_info.name in {"router.__main__", "router.errors"}:  # __main__ runs the command line
            continue
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
            ):
                elsewhere.add(f"{module.__name__}.{name}")
    assert elsewhere == set()
    defined = [v for v in vars(errors).values() if inspect.isclass(v) and issubclass(v, BaseException)]
    assert all(issubclass(error, RouterError) for error in defined)


def test_a_parse_error_detail_gives_line_column_reason_then_field() -> None:
    """detail() is the JSON object of a rejection, in that key order, the field only when set."""
    with_field = CableParseError("expected FM + originator", line=4, column=2, field="FL6")
    assert list(with_field.detail().items()) == [
        ("line", 4),
        ("column", 2),
        ("reason", "expected FM + originator"),
        ("field", "FL6"),
    ]
    assert CableParseError("empty input").detail() == {"line": 1, "column": 1, "reason": "empty input"}


def test_a_located_error_stays_a_value_error_for_pydantic() -> None:
    """Pydantic turns only a ValueError raised in a validator into a validation error."""
    assert issubclass(LocatedError, ValueError)
    assert issubclass(LocatedError, RouterError)
