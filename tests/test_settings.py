"""Settings: the file, then ROUTER_* variables, then flags; a bad value names itself and its source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from router.cli import app
from router.errors import SettingsError
from router.settings import Settings, load_settings, sources

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
runner = CliRunner()


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A router.toml of the test's own, in place of config/router.toml."""
    path = tmp_path / "router.toml"
    path.write_text('client_id = "from-file"\nsession_expiry = 60\nreconnect_max = 5.0\n')
    monkeypatch.setattr(Settings, "config_file", path)
    for name in Settings.model_fields:
        monkeypatch.delenv(f"ROUTER_{name.upper()}", raising=False)
    return path


def test_flags_override_variables_override_the_file(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each layer wins over the one below it, and `sources` says which one a value came from."""
    monkeypatch.setenv("ROUTER_SESSION_EXPIRY", "120")
    monkeypatch.setenv("ROUTER_CLIENT_ID", "from-env")
    settings = load_settings(client_id="from-flag")
    assert (settings.client_id, settings.session_expiry, settings.reconnect_max) == ("from-flag", 120, 5.0)
    origin = sources({"client_id": "from-flag"})
    assert origin["client_id"] == "command line"
    assert origin["session_expiry"] == "ROUTER_SESSION_EXPIRY"
    assert origin["reconnect_max"] == str(config_file)
    assert origin["max_cable_bytes"] == "default"


def test_a_bad_value_names_the_setting_and_where_it_came_from(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One line: which setting, from which source, and what is wrong with it."""
    monkeypatch.setenv("ROUTER_SESSION_EXPIRY", "-5")
    with pytest.raises(SettingsError, match=r"^setting session_expiry \(from ROUTER_SESSION_EXPIRY\): "):
        load_settings()
    config_file.write_text("reconnect_max = 0\n")
    monkeypatch.delenv("ROUTER_SESSION_EXPIRY")
    with pytest.raises(SettingsError, match=rf"setting reconnect_max \(from {config_file}\)"):
        load_settings()


def test_the_service_timings_are_settings_with_their_defaults(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """status_every, resend_after and publish_log: 1 s, 2 s and on unless set, and their source is told."""
    settings = load_settings()
    assert (settings.status_every, settings.resend_after, settings.publish_log) == (1.0, 2.0, True)
    monkeypatch.setenv("ROUTER_STATUS_EVERY", "0.25")
    monkeypatch.setenv("ROUTER_PUBLISH_LOG", "false")
    settings = load_settings()
    assert (settings.status_every, settings.publish_log) == (0.25, False)
    origin = sources({})
    assert (origin["status_every"], origin["publish_log"]) == ("ROUTER_STATUS_EVERY", "ROUTER_PUBLISH_LOG")
    assert origin["resend_after"] == "default"


def test_fixed_values_win_over_every_layer_none_included(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a command fixes (the demo's own broker) is not overridden by a variable or the file."""
    monkeypatch.setenv("ROUTER_BROKER", "mqtt://elsewhere:1883")
    settings = load_settings(fixed={"broker": None, "client_id": "demo-router"}, client_id="from-flag")
    assert (settings.broker, settings.client_id) == (None, "demo-router")
    assert load_settings().broker == "mqtt://elsewhere:1883"


def test_router_config_names_a_variable_as_a_variable(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`router config` lists every setting; a variable is named as its source, a flag as the command line."""
    monkeypatch.setenv("ROUTER_BROKER", "mqtt://elsewhere:1883")
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "broker = mqtt://elsewhere:1883  # ROUTER_BROKER" in lines
    assert f"client_id = from-file  # {config_file}" in lines
    assert "status_every = 1.0  # default" in lines
    assert lines[0] == f"# settings file: {config_file} (the current folder's)"
    assert [line.split(" = ")[0] for line in lines[1:]] == list(Settings.model_fields)
    result = runner.invoke(app, ["config", "--broker", "mqtt://here:1883"])
    assert "broker = mqtt://here:1883  # command line" in result.output.splitlines()


def test_route_and_check_take_their_settings_from_the_file_and_the_variables(
    config_file: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`router route` routes by the file's table; `router check` takes ROUTER_MAX_CABLE_BYTES."""
    table = tmp_path / "routing.toml"
    table.write_text('[[posts]]\nri = "RUEHNR"\nnames = ["AMEMBASSY NAIROBI"]\n')
    config_file.write_text(f"routing = {str(table)!r}\n")
    result = runner.invoke(app, ["route", "--json", str(SAMPLES / "dual-precedence.txt")])
    assert result.exit_code == 0, result.output
    assert [d["post"] for d in json.loads(result.output)["deliveries"]] == ["RUEHNR"]
    result = runner.invoke(app, ["check"])
    assert result.output.strip() == f"{table}: 1 posts, 0 collectives, 0 relays"
    monkeypatch.setenv("ROUTER_MAX_CABLE_BYTES", "10")
    result = runner.invoke(app, ["check", "--json", str(SAMPLES / "dual-precedence.txt")])
    assert result.exit_code == 1
    assert json.loads(result.output)["ok"] is False


def test_a_settings_file_is_named_by_config_or_router_config_and_must_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--config PATH` wins over ROUTER_CONFIG; `router config` says which file it read and why.

    A named file that is not there stops the command (status 2): a typo would otherwise run on defaults.
    """
    monkeypatch.setattr(Settings, "config_file", Settings.config_file)  # restored after the test
    monkeypatch.setattr(Settings, "config_origin", Settings.config_origin)
    by_variable, by_flag = tmp_path / "variable.toml", tmp_path / "flag.toml"
    by_variable.write_text('client_id = "by-variable"\n')
    by_flag.write_text('client_id = "by-flag"\n')
    monkeypatch.setenv("ROUTER_CONFIG", str(by_variable))
    lines = runner.invoke(app, ["config"]).output.splitlines()
    assert lines[0] == f"# settings file: {by_variable} (from ROUTER_CONFIG)"
    assert f"client_id = by-variable  # {by_variable}" in lines
    lines = runner.invoke(app, ["--config", str(by_flag), "config"]).output.splitlines()
    assert lines[0] == f"# settings file: {by_flag} (from --config)"
    assert f"client_id = by-flag  # {by_flag}" in lines
    result = runner.invoke(app, ["--config", str(tmp_path / "typo.toml"), "config"])
    assert result.exit_code == 2
    assert result.output == f"router: settings file {tmp_path / 'typo.toml'} (from --config): no such file\n"
