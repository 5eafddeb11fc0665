"""Any input either parses or raises CableParseError: never another exception, never a hang."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router import Cable, CableParseError, parse_cable

SAMPLES = sorted((Path(__file__).resolve().parent.parent / "samples").glob("*.txt"))


def parses_or_raises(data: bytes | str) -> Cable | None:
    """A cable, valid as its model says (the parser's values go unvalidated: `read_as`), or an error."""
    try:
        cable = parse_cable(data)
    except CableParseError as exc:
        assert exc.line >= 1
        assert exc.column >= 1
        assert exc.reason
        return None
    assert Cable.model_validate(cable.model_dump(), strict=True) == cable
    return cable


# No per-example deadline: a busy machine is no parser bug (a hang is the test timeout's to catch).
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_parse_or_raise(data: bytes) -> None:
    """Random bytes give a Cable or a CableParseError."""
    parses_or_raises(data)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("VZCDEFMTONIRPXY0123456789 /#\n"), max_size=600))
def test_format_alphabet_soup_parses_or_raises(text: str) -> None:
    """Text built from the header's own letters gives a Cable or a CableParseError."""
    parses_or_raises(text)


@st.composite
def mutated_samples(draw: st.DrawFn) -> bytes:
    """A sample cable with bytes deleted, duplicated, replaced or lines swapped."""
    data = bytearray(draw(st.sampled_from(SAMPLES)).read_bytes())
    for _ in range(draw(st.integers(1, 8))):
        where = draw(st.integers(0, max(0, len(data) - 1)))
        action = draw(st.sampled_from(["delete", "insert", "replace", "newline", "cut"]))
        if action == "delete":
            del data[where : where + draw(st.integers(1, 20))]
        elif action == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=8))
        elif action == "replace" and data:
            data[where] = draw(st.integers(0, 255))
        elif action == "newline":
            data[where:where] = b"\n"
        else:
            del data[where:]
    return bytes(data)


@settings(max_examples=400, deadline=None)
@given(mutated_samples())
def test_mutated_real_format_cables_parse_or_raise(data: bytes) -> None:
    """Real-format cables damaged in transit give a Cable or a CableParseError."""
    parses_or_raises(data)


HEAD = b"R 011200Z JAN 09\nFM AMEMBASSY PARIS\n"


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("empty", b""),
        ("blank", b" \n\n\t \n"),
        ("binary", bytes(range(256)) * 4),
        ("not utf-8", "R 011200Z JAN 09\nFM AMEMBASSY PARIS\n".encode("utf-16")),
        ("10 MB of garbage", random.Random(1).randbytes(10 * 1024 * 1024)),
        ("10 MB of text", b"LOREM IPSUM DOLOR\n" * 600_000),
        ("100,000 addressee lines", HEAD + b"TO SECSTATE WASHDC\n" + b"AMEMBASSY ROME\n" * 100_000),
        ("a line of 1 MB", HEAD + b"TO " + b"A" * (1024 * 1024) + b"\n"),
        ("a 1 MB line of blanks", HEAD + b"TO X" + b" " * (1024 * 1024) + b"Y\n"),
        ("a 1 MB banner", HEAD + b"TO SECSTATE WASHDC\n\nS E C R E T " + b"X " * 500_000 + b"\n"),
        ("a 1 MB tail of digits", HEAD + b"TO SECSTATE WASHDC " + b"1-" * 500_000 + b"\n"),
    ],
)
def test_hostile_inputs_end_quickly_in_a_cable_or_an_error(name: str, data: bytes) -> None:
    """Empty, binary, oversized and pathological inputs end in a result or a clear error."""
    result = parses_or_raises(data)
    if result is not None:
        assert len(result.to) + len(result.info) <= 5_000, name


def test_size_limit_is_enforced() -> None:
    """A cable over the size limit is refused, and the limit is a parameter."""
    with pytest.raises(CableParseError, match="over the limit"):
        parse_cable(HEAD + b"TO SECSTATE WASHDC\n", max_bytes=10)
    assert parse_cable(HEAD + b"TO SECSTATE WASHDC\n", max_bytes=1000).to
