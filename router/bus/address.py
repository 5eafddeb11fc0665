"""Where a broker is and how to log in to it: ``mqtt[s]://[user[:password]@]host[:port]``, files for TLS."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Self
from urllib.parse import unquote, urlsplit

from router.errors import BusError

PORTS = {"mqtt": 1883, "mqtts": 8883}
"""The registered ports, when a URL leaves its port out."""


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """A broker's host and port, whether it speaks TLS, and the login and files a client presents.

    Neither the login nor the files are part of what is printed (`__str__`); the password is not
    in its ``repr`` either.
    """

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    cafile: Path | None = None
    """The CA that signed the broker's certificate; none: the system's trusted CAs."""
    certfile: Path | None = None
    """A client certificate to present (with ``keyfile``), for a broker that asks for one."""
    keyfile: Path | None = None

    @classmethod
    def parse(cls, url: str) -> Self:
        """Read ``mqtt[s]://[user[:password]@]host[:port]``; ``BusError`` for anything else."""
        parts = urlsplit(url if "://" in url else f"mqtt://{url}")
        if parts.scheme not in PORTS or not parts.hostname:
            raise BusError(
                f"broker address {without_password(url)!r} is not mqtt://host:port or mqtts://host:port"
            )
        try:
            port = parts.port or PORTS[parts.scheme]
        except ValueError:
            raise BusError(f"broker address {without_password(url)!r} has no valid port") from None
        return cls(
            parts.hostname,
            port,
            tls=parts.scheme == "mqtts",
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
        )

    def logged_in(self, username: str | None, password: str | None) -> Self:
        """The same broker with this login."""
        return replace(self, username=username, password=password)

    def with_files(self, cafile: Path | None, certfile: Path | None, keyfile: Path | None) -> Self:
        """The same broker with these TLS files (a client certificate needs its key)."""
        return replace(self, cafile=cafile, certfile=certfile, keyfile=keyfile)

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of a connection to this broker (None without TLS); ``BusError`` for a bad file.

        The broker's certificate must be signed by ``cafile`` (else a CA the system trusts) and name
        the host connected to: no option turns the check off.
        """
        if not self.tls:
            return None
        try:
            context = ssl.create_default_context(cafile=self.cafile)
            if self.certfile is not None:
                context.load_cert_chain(self.certfile, self.keyfile)
                # Under TLS 1.3 a broker refuses a client's certificate after the client's handshake
                # is over: the refusal would look like a lost connection. Under 1.2 it is a refusal.
                context.maximum_version = ssl.TLSVersion.TLSv1_2
        except FileNotFoundError as exc:
            raise BusError(f"TLS file {exc.filename}: not found") from None
        except (ssl.SSLError, OSError) as exc:
            which = "cafile" if self.certfile is None else "cafile, certfile or keyfile"
            raise BusError(f"TLS files ({which}) cannot be used: {exc}") from None
        return context

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def without_password(url: str) -> str:
    """``url`` with any password in it replaced by ``***``: an error message is no place for one."""
    schemed = "://" in url
    parts = urlsplit(url if schemed else f"mqtt://{url}")
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    hidden = parts._replace(netloc=netloc).geturl()
    return hidden if schemed else hidden.removeprefix("mqtt://")
