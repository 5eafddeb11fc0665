"""The router's one settings object: config/router.toml, then ROUTER_* variables, then command-line flags."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from router.bus.address import BrokerAddress
from router.bus.broker import Mosquitto
from router.bus.security import Keyring
from router.cable.parser import MAX_CABLE_BYTES
from router.errors import BusError, SettingsError
from router.journal.database import BUSY_TIMEOUT
from router.journal.dialect import is_url, shown
from router.network.line import CHECK_AFTER, DIVERT_AFTER, EXTRA_LONG, LineRules
from router.routing.network_description import CENTRE_NAME_PATTERN, DEFAULT_NETWORK
from router.routing.table import DEFAULT_TABLE

if TYPE_CHECKING:
    from router.bus.tls import TlsFiles

CONFIG_FILE = Path("config") / "router.toml"
"""The settings file read when none is named: the current folder's, if it has one (a checkout does)."""


def journal_file_or_url(value: object) -> object:
    """A ``postgresql://`` URL stays a string (a path would fold its ``//``); anything else a path."""
    if isinstance(value, str):
        if is_url(value):
            parts = urlsplit(value)
            if not parts.hostname and not parts.path.strip("/"):
                raise ValueError(f"a PostgreSQL journal names a host or a database: {shown(value)}")
            return value
        return Path(value)
    return value


LAST_DATE = 253_402_300_799
"""9999-12-31 23:59:59 UTC, the last moment a date can be written (Python's `datetime`)."""


def _origin_come(value: float | None, info: ValidationInfo) -> float | None:
    """An origin that has come, that puts the network's clock where dates can be written."""
    if value is None:
        return value
    now = time.time()
    if value > now + 1:
        raise ValueError("is in the future: a moment that has come, in UNIX seconds (not milliseconds)")
    scale = info.data.get("time_scale", 1.0)
    if not 0 <= value + (now - value) * scale < LAST_DATE:
        raise ValueError(f"with time_scale {scale:g} puts the network's clock outside the years 1970-9999")
    return value


ClockOrigin = Annotated[
    float | None,
    AfterValidator(_origin_come),
    Field(
        description="UNIX time at which the network's clock read the host's, running time_scale times"
        " faster since; the centres of one network given the same keep one network time; unset: the start"
    ),
]
"""`clock_origin`, checked against `time_scale`, which the settings declare before it."""


class Settings(BaseSettings):
    """Everything the service reads at start-up."""

    model_config = SettingsConfigDict(env_prefix="ROUTER_", extra="forbid", frozen=True)
    config_file: ClassVar[Path] = CONFIG_FILE
    config_origin: ClassVar[str] = "the current folder's"

    broker: str | None = Field(
        default=None,
        description="mqtt[s]://[user@]host:port; several nodes of one broker: a list, or a comma list "
        "(tried in order, the next when one goes); none starts a private broker",
    )
    # --- who we are to the broker (none: the command's own role, its password from `credentials`)
    username: str | None = Field(default=None, min_length=1, description="MQTT user name")
    password: SecretStr | None = Field(
        default=None, description="MQTT password (ROUTER_PASSWORD; never printed)"
    )
    password_file: Path | None = Field(default=None, description="a file whose first line is the password")
    cafile: Path | None = Field(default=None, description="CA certificate the broker's must be signed by")
    certfile: Path | None = Field(default=None, description="client certificate (PEM), with keyfile")
    keyfile: Path | None = Field(default=None, description="the client certificate's key (PEM)")
    credentials: Path | None = Field(
        default=None,
        description="folder of the passwords (and TLS files) the private broker's users are given; "
        "none: <broker_state>/credentials",
    )
    embedded_tls: bool = Field(
        default=False, description="the private broker speaks MQTT over TLS only, with a CA of its own"
    )
    routing: Path = Field(default=DEFAULT_TABLE, description="the routing table (TOML)")
    centre: str | None = Field(
        default=None,
        pattern=CENTRE_NAME_PATTERN,
        description="run as this switching centre of the network (issue 16); none: the single switch",
    )
    network: Path = Field(default=DEFAULT_NETWORK, description="the network of switching centres (TOML)")
    journal: Annotated[Path | str, BeforeValidator(journal_file_or_url)] = Field(
        default=Path("router-journal.sqlite"),
        description="the journal: an SQLite file, or a PostgreSQL URL (postgresql://user@host/db)",
    )
    client_id: str = Field(default="router", min_length=1, max_length=64, description="MQTT client id")
    mqtt_version: Literal["3.1.1", "5"] = Field(
        default="3.1.1",
        description="the router's MQTT version: 3.1.1 packets carry no properties to skip",
    )
    session_expiry: int = Field(
        default=86_400, ge=0, description="MQTT 5: seconds the broker keeps our session and queued cables"
    )
    max_cable_bytes: int = Field(default=MAX_CABLE_BYTES, ge=1, description="larger cables are rejected")
    log_file: Path | None = Field(default=None, description="routing log file (JSON lines); none: stderr")
    log_copies: bool = Field(
        default=False,
        description="also log each cable's arrival and each copy's queued/delivered/acknowledged",
    )
    reconnect_max: float = Field(default=30.0, gt=0, description="longest wait between reconnections, s")
    metrics_port: int | None = Field(
        default=None, ge=0, le=65535, description="serve Prometheus metrics on this port; none: no metrics"
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="address the metrics are served on (0.0.0.0: every interface)"
    )
    embedded_port: int = Field(
        default=1884, ge=1, le=65535, description="port of the private broker `router run` starts"
    )
    # 60 by default: the table's lines run at teletype speeds (75 baud: ten characters a second), so
    # at 1.0 a newcomer's first copy would take minutes; a network minute a second shows them in seconds.
    time_scale: float = Field(
        default=60.0, gt=0, description="network seconds per host second: 60 makes a minute pass in a second"
    )
    clock_origin: ClockOrigin = None
    units_per_character: float | None = Field(
        default=None,
        gt=0,
        description="signal units a character takes on every line; unset: by each line's code and speed"
        " (ITA2 7.42-7.5 below 110 baud, ASCII 11 at 110, 10 from 150)",
    )
    extra_long: int = Field(
        default=EXTRA_LONG, ge=0, description="characters above which PRIORITY may bust a ROUTINE"
    )
    ack_timeout: float = Field(
        default=300.0, gt=0, description="network seconds a FLASH, ECP or NIACT copy waits for its receipt"
    )
    receipt_timeout: float = Field(
        default=600.0,
        gt=0,
        description="network seconds any other copy waits for its receipt before it goes again (with ZFD)",
    )
    max_resends: int = Field(
        default=3, ge=0, description="resends without a receipt before a copy is intercepted (no-receipt)"
    )
    channel_check_after: float = Field(
        default=CHECK_AFTER,
        gt=0,
        description="network seconds a line carries nothing before the switch checks it with ZID (§412b)",
    )
    divert_after: float = Field(
        default=DIVERT_AFTER,
        ge=0,
        description="network seconds a post's line is down before its FLASH and IMMEDIATE go by its"
        " alternate route (ACP 127 §307; `alternate` in the routing table)",
    )
    max_gap_serials: int = Field(
        default=16, ge=1, description="serials one ZFX service message is answered for"
    )
    requests_burst: int = Field(
        default=20, ge=1, description="gap reports and retransmit requests a post may make at once"
    )
    requests_per_minute: float = Field(
        default=30.0, gt=0, description="gap reports and retransmit requests a post may make a network minute"
    )
    status_lines: int = Field(
        default=50,
        ge=0,
        description="lines router/status lists one by one (the busiest); the rest summed",
    )
    status_every: float = Field(
        default=1.0,
        gt=0,
        description="host seconds between retained router/status messages (and memory given back)",
    )
    resend_after: float = Field(
        default=2.0,
        ge=0,
        description="host seconds a restarted router waits for receipts before sending copies again",
    )
    publish_log: bool = Field(default=True, description="also publish the routing log on router/log")
    # --- edges: the private broker's state
    broker_state: Path | None = Field(
        default=None,
        description="folder of the private broker's config, log and persistence; none: <journal>.broker/",
    )
    broker_autosave_changes: int = Field(
        default=100,
        ge=1,
        description="the private broker saves its database after this many changes: 1 saves every "
        "message it acknowledged but carries some 150 cables/s (benchmarks/broker_durability.py)",
    )
    # The switch's own defaults (router.switch.intake, router.switch.cables), written out here: the
    # settings stand below the switch, which may not be imported from here.
    recent_cable_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=0,
        description="bytes of just-routed cables kept in memory for their copies",
    )
    max_fanout_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=0,
        description="bytes the copies of one cable may put on the bus; past them, addressees are intercepted",
    )
    max_fanout_total_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=0,
        description="bytes the copies of the cables just routed may put on the bus together",
    )
    journal_lease_wait: float = Field(
        default=0.0,
        ge=0,
        description="seconds `router run` waits for another router's lease on the journal to end;"
        " 0: refuse at once",
    )
    journal_busy_timeout: float = Field(
        default=BUSY_TIMEOUT,
        gt=0,
        description="seconds SQLite waits for another process's lock on the journal before an attempt fails",
    )
    journal_retry_max: float = Field(
        default=5.0,
        gt=0,
        description="longest wait, s, between attempts to write a locked or full journal",
    )

    @field_validator("broker", mode="before")
    @classmethod
    def _broker_list(cls, value: object) -> object:
        """A list of URLs (``broker = ["mqtt://a", "mqtt://b"]``, ``--broker`` repeated): a comma list."""
        if isinstance(value, list | tuple):
            if not all(isinstance(url, str) for url in value):
                raise ValueError("a broker list holds URLs (strings)")
            return ",".join(url.strip() for url in value) or None
        return value

    @property
    def rules(self) -> LineRules:
        """How every line behaves, from these settings."""
        return LineRules(self.units_per_character, self.extra_long)

    @property
    def broker_url(self) -> str:
        """The broker to talk to: the configured one, else the private one `router run` starts."""
        scheme = "mqtts" if self.embedded_tls else "mqtt"
        return self.broker or f"{scheme}://127.0.0.1:{self.embedded_port}"

    @property
    def keyring(self) -> Keyring:
        """The passwords of the private broker's users: `credentials`, else beside its state."""
        return Keyring(self.credentials or self.broker_directory / "credentials")

    def broker_address(self, user: str) -> BrokerAddress:
        """The broker, and how to log in to it as ``user`` (the command's role) unless told otherwise.

        The user name: the URL's, else `username`, else ``user``. The password: the URL's, else
        `password_file`'s (a flag given beats a variable inherited), else `password`
        (ROUTER_PASSWORD), else the keyring's for that user.
        With TLS, the CA: `cafile`, else the keyring's ``ca.crt`` if it has one (the private
        broker's), else the system's. ``SettingsError`` for a password file that cannot be read.
        """
        try:
            address = BrokerAddress.parse(self.broker_url)
        except BusError as exc:
            raise SettingsError(f"setting broker: {exc}") from None
        username = address.username or self.username or user
        password = address.password
        if password is None and self.password_file is not None:
            password = _first_line(self.password_file)
        if password is None and self.password is not None:
            password = self.password.get_secret_value()
        keyring = self.keyring
        if password is None:
            password = keyring.password(username)
        cafile = self.cafile
        if cafile is None and address.tls and (keyring.folder / "ca.crt").exists():
            cafile = keyring.folder / "ca.crt"
        if self.keyfile is not None and self.certfile is None:
            raise SettingsError("setting keyfile: a key needs its certificate (certfile)")
        return address.logged_in(username, password).with_files(cafile, self.certfile, self.keyfile)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Flags over ROUTER_* variables over the TOML file (first wins)."""
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=cls.config_file)

    @property
    def broker_directory(self) -> Path:
        """Where the private broker keeps its state: `broker_state`, else beside the journal."""
        if self.broker_state is not None:
            return self.broker_state
        if isinstance(self.journal, str):  # a journal in PostgreSQL: in the current folder
            return Path(f"router-{self.centre or 'journal'}.broker")
        return self.journal.with_name(self.journal.name + ".broker")


def for_centre(settings: Settings) -> Settings:
    """A centre's settings: a journal and client id of its own unless set (``router-<NAME>.sqlite``).

    The centres of a network share a broker, each with a session (client id ``router-<NAME>``) and
    a journal of its own.
    """
    if settings.centre is None:
        return settings
    update: dict[str, object] = {}
    if isinstance(settings.journal, Path) and settings.journal == Settings.model_fields["journal"].default:
        update["journal"] = settings.journal.with_name(f"router-{settings.centre}.sqlite")
    if settings.client_id == Settings.model_fields["client_id"].default:
        update["client_id"] = f"router-{settings.centre}"
    return settings.model_copy(update=update)


def private_mosquitto(settings: Settings, posts: Iterable[str]) -> Mosquitto:
    """The private broker `router run` starts, not yet started: its state, its users, TLS if asked.

    Its users are the roles and ``posts``, their passwords in `Settings.keyring` (made the first
    time, kept after); with `embedded_tls` it speaks TLS only, with a CA of the keyring's own.
    """
    keyring = settings.keyring
    return Mosquitto(
        settings.broker_directory,
        port=settings.embedded_port,
        persistence=True,
        max_cable_bytes=settings.max_cable_bytes,
        autosave=(True, settings.broker_autosave_changes),
        users=keyring.users(posts),
        tls=private_tls(settings),
    )


def private_tls(settings: Settings) -> TlsFiles | None:
    """The private broker's TLS files (in the keyring: made the first time), if `embedded_tls`."""
    if not settings.embedded_tls:
        return None
    from router.bus.tls import broker_files  # noqa: PLC0415 (cryptography only for a broker with TLS)

    return broker_files(settings.keyring.folder)


def _first_line(path: Path) -> str:
    """The password in a password file: its first line, without the line's end."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise SettingsError(f"setting password_file: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SettingsError(f"setting password_file: {path} is not text") from None
    if not lines or not lines[0]:
        raise SettingsError(f"setting password_file: {path} is empty (the password is its first line)")
    return lines[0]


def choose_config_file(named: Path | None) -> None:
    """Read the settings from ``named`` (``--config``), else ROUTER_CONFIG, else ./config/router.toml.

    A file named either way must exist (``SettingsError``): a typo would otherwise run the router on
    defaults without a word. The current folder's file is read only if it is there.
    """
    environment = os.environ.get("ROUTER_CONFIG")
    if named is None and not environment:
        return  # the current folder's, Settings.config_file as it is
    path, origin = (named, "--config") if named is not None else (Path(str(environment)), "ROUTER_CONFIG")
    if not path.is_file():
        raise SettingsError(f"settings file {path} (from {origin}): no such file")
    Settings.config_file, Settings.config_origin = path, f"from {origin}"


def config_file_said() -> str:
    """Which settings file is read, and why, in one line (`router config` prints it first)."""
    if Settings.config_file.is_file():
        return f"settings file: {Settings.config_file} ({Settings.config_origin})"
    return f"settings file: none ({Settings.config_file} is not here): defaults, ROUTER_* variables and flags"


def load_settings(*, fixed: Mapping[str, Any] | None = None, **flags: Any) -> Settings:
    """The effective settings; ``SettingsError`` names the setting that is wrong and where it came from.

    ``flags`` are the command line's: None is a flag not given. ``fixed`` are values a command sets
    itself (the demo's own broker and client id): they win over the file and the variables, None included.
    """
    given = given_flags(flags) | dict(fixed or {})
    if "password" in TomlConfigSettingsSource(Settings, toml_file=Settings.config_file)():
        # The file is read by anyone who reads the project, and often committed: not a password's place.
        raise SettingsError(
            f"setting password (from {Settings.config_file}): a password does not belong in the config "
            "file; give password_file, or ROUTER_PASSWORD"
        )
    try:
        return Settings(**given)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else "?"
        origin = sources(given).get(name, "default")
        raise SettingsError(f"setting {name} (from {origin}): {error['msg']}") from None


def given_flags(flags: Mapping[str, Any]) -> dict[str, Any]:
    """The flags given: a flag left out reaches here as None, and leaves the setting to the layers below."""
    return {name: value for name, value in flags.items() if value is not None}


def sources(flags: Mapping[str, Any]) -> dict[str, str]:
    """Where each setting's value comes from: the command line, the environment, the file, or default.

    Reads the same layers as `Settings` itself, in the same order: a flag given (not None), a ROUTER_*
    variable, `config_file`.
    """
    flags = given_flags(flags)
    origin = dict.fromkeys(Settings.model_fields, "default")
    file_values = TomlConfigSettingsSource(Settings, toml_file=Settings.config_file)()
    env_values = EnvSettingsSource(Settings)()
    for name in Settings.model_fields:
        if name in flags:
            origin[name] = "command line"
        elif name in env_values:
            origin[name] = f"ROUTER_{name.upper()}"
        elif name in file_values:
            origin[name] = str(Settings.config_file)
    return origin
