"""The command line: output shapes, exit codes and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from router.cli import app
from router.journal.store import Journal

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
runner = CliRunner()


def test_check_prints_a_summary_per_cable_and_exits_zero() -> None:
    """`router check samples/` summarises every sample and succeeds."""
    result = runner.invoke(app, ["check", str(SAMPLES)])
    assert result.exit_code == 0, result.output
    assert "flash-collective.txt  acp127  FLASH" in result.output
    assert "TO   RUEHC    SECSTATE WASHDC" in result.output
    assert "NIACT IMMEDIATE" in result.output


def test_check_json_has_the_promised_fields() -> None:
    """One JSON object per input with the model's field names."""
    result = runner.invoke(app, ["check", "--json", str(SAMPLES / "dual-precedence.txt")])
    assert result.exit_code == 0
    (record,) = [json.loads(line) for line in result.output.splitlines()]
    assert record["ok"] is True
    cable = record["cable"]
    for key in (
        "family",
        "transmission_id",
        "message_id",
        "reference",
        "precedence",
        "info_precedence",
        "dtg",
        "originator",
        "classification",
        "caveats",
        "to",
        "info",
        "xmt",
        "subject",
        "tags",
    ):
        assert key in cable
    assert cable["dtg"] == "1988-03-14T15:30:00Z"
    assert {k: cable["to"][0][k] for k in ("ri", "name", "precedence", "niact", "mcn", "zen")} == {
        "ri": None,
        "name": "AMEMBASSY NAIROBI",
        "precedence": "IMMEDIATE",
        "niact": True,
        "mcn": None,
        "zen": False,
    }


def test_check_reports_a_bad_cable_in_one_line_and_exits_one(tmp_path: Path) -> None:
    """A cable that does not parse gives a positioned error and exit status 1, no traceback."""
    bad = tmp_path / "bad.txt"
    bad.write_text("VZCZCXYZ0001\nOO RUEHWEB\nDE RUEHKO #1571\n")
    result = runner.invoke(app, ["check", "--json", str(bad), str(SAMPLES / "partial-record.txt")])
    assert result.exit_code == 1
    records = [json.loads(line) for line in result.output.splitlines()]
    assert records[0] == {
        "file": str(bad),
        "ok": False,
        "error": {
            "line": 3,
            "column": 1,
            "field": "FL3",
            "reason": "expected DE + originating RI + SSN + filing time",
        },
    }
    assert records[1]["ok"] is True
    result = runner.invoke(app, ["check", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:3:1: FL3: expected DE" in result.output
    assert "Traceback" not in result.output


def test_check_refuses_an_invalid_routing_table(tmp_path: Path) -> None:
    """`router check --routing` exits non-zero with the file, line and field."""
    table = tmp_path / "routing.toml"
    table.write_text('[[posts]]\nri = "RUEHC"\nnames = ["SECSTATE WASHDC"]\nclearance = "MAYBE"\n')
    result = runner.invoke(app, ["check", "--routing", str(table)])
    assert result.exit_code == 2
    assert f"{table}:4: posts.0.clearance:" in result.output


def test_route_json_lists_deliveries_and_intercepts(tmp_path: Path) -> None:
    """`router route --json` prints deliveries and intercepts per cable."""
    table = tmp_path / "routing.toml"
    table.write_text(
        '[[posts]]\nri = "RUEHC"\nnames = ["SECSTATE WASHDC"]\nclearance = "TOP SECRET"\n'
        '[[posts]]\nri = "RUEHNR"\nnames = ["AMEMBASSY NAIROBI"]\n'
    )
    result = runner.invoke(
        app, ["route", "--json", "--routing", str(table), str(SAMPLES / "dual-precedence.txt")]
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert record["deliveries"] == [
        {"post": "RUEHNR", "precedence": "IMMEDIATE", "role": "action", "niact": True, "via": "direct"}
    ]
    assert [(i["addressee"], i["reason"]) for i in record["intercepts"]] == [
        ("AMEMBASSY DAR ES SALAAM", "unknown-addressee"),
        ("AMEMBASSY KAMPALA", "unknown-addressee"),
        ("AMEMBASSY KIGALI", "unknown-addressee"),
        ("ARAB ISRAELI COLLECTIVE", "unknown-collective"),
    ]


def test_publish_to_an_absent_broker_fails_in_one_line() -> None:
    """`router publish` exits 1 with the reason when no broker listens; nothing is half-done."""
    from router.bus.broker import free_port  # noqa: PLC0415

    url = f"mqtt://127.0.0.1:{free_port()}"
    result = runner.invoke(app, ["publish", "--broker", url, str(SAMPLES / "partial-record.txt")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"router publish: cannot connect to the broker at {url}: [Errno 111] Connection refused"
    ]


def test_publish_of_a_missing_file_fails_before_connecting(tmp_path: Path) -> None:
    """A file that cannot be read is named, and nothing is published."""
    result = runner.invoke(app, ["publish", "--broker", "mqtt://127.0.0.1:9", str(tmp_path / "absent.txt")])
    assert result.exit_code == 1
    assert "cannot read" in result.output
    assert "absent.txt" in result.output


def test_post_refuses_what_is_no_routing_indicator() -> None:
    """`router post` takes only a well-formed RI: it becomes a topic."""
    result = runner.invoke(app, ["post", "cables/#"])
    assert result.exit_code == 2
    assert "is not a routing indicator" in result.output


def test_version_prints_the_installed_version() -> None:
    """`router --version`: the distribution's version and its build, and nothing else runs.

    The checkout is pure Python; tests/test_compiled.py holds the compiled build to its own line.
    """
    from importlib import metadata  # noqa: PLC0415

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"router {metadata.version('router')} (pure Python)\n"


def test_check_with_nothing_to_check_is_a_usage_error() -> None:
    """No paths and no table named: nothing would be checked, so it is not a silent success."""
    result = runner.invoke(app, ["check"])
    assert result.exit_code == 2
    assert (
        result.output == "router check: nothing to check: give cable files or folders (or --routing PATH)\n"
    )


def test_replay_of_a_missing_or_unreadable_source_fails_in_one_line(tmp_path: Path) -> None:
    """The file named, why it cannot be read, status 1: no traceback, nothing published."""
    result = runner.invoke(app, ["replay", str(tmp_path / "nosuch")])
    assert result.exit_code == 1
    assert result.output == f"router replay: {tmp_path / 'nosuch'}: cannot read: No such file or directory\n"
    not_gzip = tmp_path / "pool.jsonl.gz"
    not_gzip.write_text("{}\n")
    result = runner.invoke(app, ["replay", str(not_gzip)])
    assert result.exit_code == 1
    assert result.output.startswith(f"router replay: {not_gzip}: cannot read: Not a gzipped file")


def test_generate_out_that_cannot_be_a_folder_fails_before_any_work(tmp_path: Path) -> None:
    """A file in the way, or a folder that cannot be made: one line naming --out, status 1."""
    in_the_way = tmp_path / "cables"
    in_the_way.write_text("")
    result = runner.invoke(app, ["generate", "--count", "1", "--out", str(in_the_way)])
    assert result.exit_code == 1
    assert result.output == f"router generate: --out {in_the_way}: exists and is not a folder\n"
    below_a_file = in_the_way / "sub"
    result = runner.invoke(app, ["generate", "--count", "1", "--out", str(below_a_file)])
    assert result.exit_code == 1
    assert result.output.startswith(f"router generate: --out {below_a_file}: cannot make the folder: ")


def test_report_and_demo_out_that_cannot_be_a_folder_fail_in_one_line(tmp_path: Path) -> None:
    """`--out` names a file, or a folder that cannot be made: one line naming it, before any work."""
    in_the_way = tmp_path / "page"
    in_the_way.write_text("")
    journal = tmp_path / "journal.sqlite"
    Journal(journal).close()
    for args in (
        ["report", "--journal", str(journal), "--out", str(in_the_way)],
        ["demo", "--headless", "--journal", str(tmp_path / "demo.sqlite"), "--out", str(in_the_way)],
        ["demo", "--network", "--headless", "--out", str(in_the_way)],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 1, (args, result.output)
        assert result.output == f"router {args[0]}: --out {in_the_way}: exists and is not a folder\n"


def test_a_bad_setting_in_the_environment_stops_every_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """`ROUTER_TIME_SCALE=abc router check ...`: the README says a bad value stops every command."""
    monkeypatch.setenv("ROUTER_TIME_SCALE", "abc")
    result = runner.invoke(app, ["check", str(SAMPLES / "dual-precedence.txt")])
    assert result.exit_code == 2
    assert result.output == (
        "router: setting time_scale (from ROUTER_TIME_SCALE): Input should be a valid number,"
        " unable to parse string as a number\n"
    )


def test_a_clock_origin_that_has_not_come_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Milliseconds for seconds, or a moment to come: the network's clock would be written nowhere."""
    monkeypatch.setenv("ROUTER_CLOCK_ORIGIN", "1796428800000")
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 2
    assert result.output == (
        "router: setting clock_origin (from ROUTER_CLOCK_ORIGIN): Value error, is in the future:"
        " a moment that has come, in UNIX seconds (not milliseconds)\n"
    )
    monkeypatch.setenv("ROUTER_CLOCK_ORIGIN", "0")
    monkeypatch.setenv("ROUTER_TIME_SCALE", "1000")
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 2
    assert "puts the network's clock outside the years 1970-9999" in result.output
    monkeypatch.setenv("ROUTER_TIME_SCALE", "60")
    assert runner.invoke(app, ["config"]).exit_code == 0  # 1970 at 60x is some year 5400: written


def test_router_run_on_a_file_that_is_not_a_journal_says_so_in_one_line(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database\n" * 200)
    run = subprocess.run(  # noqa: S603 (this interpreter, our own command)
        [sys.executable, "-m", "router", "run", "--journal", str(notes), "--broker", "mqtt://127.0.0.1:9"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert run.returncode == 2
    assert run.stderr == f"router: {notes}: file is not a database\n"
