"""Settings: the file, then ROUTER_* variables, then flags; a bad value names itself and its source."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from router.settings import Settings, SettingsError, load_settings, sources

if TYPE_CHECKING:
    from pathlib import Path


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
