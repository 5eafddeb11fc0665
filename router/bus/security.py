"""Who may read and write what on the broker: the roles, their passwords, Mosquitto's files, TLS material.

The broker enforces the roles, not the router's good will: each role is a user with a password of
its own, and the ACL grants it only its topics (a topic read is also what the broker delivers).

- ``router``: reads the intake, the receipts, the service messages and the operator's requests;
  writes the copies, the rejected and intercepted cables, the routing log and the status.
- ``publisher``: writes the intake (``cables/in/#``, and a centre's, ``centres/<NAME>/in/#``) only.
- ``post-<RI>``, one a post: reads its own copies (``cables/out/<RI>``), writes its own receipts
  and service messages.
- ``centre-<NAME>``, one a switching centre of the network (`router run --centre NAME`): reads its
  own intake, what its neighbours send it and its trunks' control; writes its transmissions,
  receipts and service messages to its neighbours only, on their trunks from it; writes the
  copies of the posts it serves and reads their receipts, service messages and requests; writes
  the rejected and intercepted cables, the routing log and its own status (`centre_grants`).
- ``observer``: reads the routing log and the status only.
- ``operator``: takes lines and a network's trunks down and up, asks for retransmissions; reads the
  log and the status.

`Keyring` keeps the passwords in a folder of the router's own (0700, each file 0600): one file a
user, ``<user>.password``, the file a client is given (``--password-file``); the broker gets only
their salted hashes (`password_file`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from router.bus import topics
from router.errors import BrokerError
from router.routing.network_description import load_network

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from pathlib import Path

    from router.routing.network import Network

ROUTER = "router"
PUBLISHER = "publisher"
OBSERVER = "observer"
OPERATOR = "operator"
OWNER = "owner"
"""The one user of a broker started without roles (tests, benchmarks): it may read and write anything."""

Access = Literal["read", "write", "readwrite"]
Grant = tuple[Access, str]
"""What a user may do on the topics a filter matches."""

ROLE_GRANTS: dict[str, tuple[Grant, ...]] = {
    ROUTER: (
        ("read", topics.INTAKE),
        ("read", topics.RECEIPTS),
        ("read", topics.SERVICE),
        ("read", topics.LINE_CONTROL),
        ("read", topics.RETRANSMIT),
        ("write", topics.copies("+")),
        ("write", topics.REJECTED),
        ("write", topics.INTERCEPTED),
        ("write", topics.LOG),
        ("write", topics.STATUS),
        # As a centre of a network (`router run --centre`) logged in as the router, as before
        # each centre had a user of its own (`centre_user`, `centre_grants`): any centre's intake,
        # any trunk. A centre logs in as its own user unless told otherwise.
        ("read", topics.CENTRE_INTAKE),
        ("readwrite", topics.TRUNKS),
        ("write", topics.CENTRE_STATUS),
    ),
    PUBLISHER: (("write", topics.INTAKE), ("write", topics.CENTRE_INTAKE)),
    OBSERVER: (("read", topics.LOG), ("read", topics.STATUS), ("read", topics.CENTRE_STATUS)),
    OPERATOR: (
        ("write", topics.LINE_CONTROL),
        ("write", topics.TRUNK_CONTROL),
        ("write", topics.RETRANSMIT),
        ("read", topics.LOG),
        ("read", topics.STATUS),
        ("read", topics.CENTRE_STATUS),
    ),
}
"""Each role's topics; a post's are `post_grants`."""

PBKDF2_ITERATIONS = 101
"""Mosquitto's own default for its ``$7$`` (PBKDF2-SHA512) password hashes (`mosquitto_passwd`)."""
SALT_BYTES = 12
"""The salt `mosquitto_passwd` draws for each hash."""
PASSWORD_SUFFIX = ".password"  # noqa: S105 (a file name's end, not a password)


def post_user(ri: str) -> str:
    """The user a post logs in as: ``post-<RI>``, its client id too."""
    return f"post-{ri}"


def post_grants(ri: str) -> tuple[Grant, ...]:
    """A post reads its own copies and writes its own receipts and service messages, nothing else."""
    return (("read", topics.copies(ri)), ("write", topics.receipts(ri)), ("write", topics.service(ri)))


def centre_user(name: str) -> str:
    """The user a switching centre logs in as: ``centre-<NAME>``."""
    return f"centre-{name}"


def centre_grants(name: str, network: Network, posts: Iterable[str]) -> tuple[Grant, ...]:
    """What the centre ``name`` uses, and nothing else (see the module; `router.switch.centre`).

    Its intake is read and written: the centre clears a cable filed there retained, once taken,
    with an empty retained message. Of ``posts``, only those the network has it serve are its.
    """
    grants: list[Grant] = [
        ("readwrite", f"centres/{name}/in/#"),
        ("read", f"trunks/{name}/from/+"),
        ("read", f"trunks/{name}/ack/+"),
        ("read", f"trunks/{name}/svc/+"),
        ("read", f"trunks/{name}/line/+"),
    ]
    for neighbour in network.neighbours(name):
        grants += [
            ("write", topics.trunk(neighbour, name)),
            ("write", topics.trunk_receipts(neighbour, name)),
            ("write", topics.trunk_service(neighbour, name)),
        ]
    for ri in sorted(set(network.served(name, posts))):
        grants += [
            ("write", topics.copies(ri)),
            ("read", topics.receipts(ri)),
            ("read", topics.service(ri)),
            ("read", topics.line_control(ri)),
            ("read", topics.retransmit(ri)),
        ]
    grants += [
        ("write", topics.REJECTED),
        ("write", topics.INTERCEPTED),
        ("write", topics.LOG),
        ("write", topics.status(name)),
    ]
    return tuple(grants)


def grants_for(posts: Iterable[str], network: Network | None = None) -> dict[str, tuple[Grant, ...]]:
    """Every user of a network with these posts, and what each may do; a user per centre of ``network``."""
    posts = list(posts)
    grants = dict(ROLE_GRANTS) | {post_user(ri): post_grants(ri) for ri in posts}
    if network is not None:
        grants |= {centre_user(name): centre_grants(name, network, posts) for name in sorted(network.centres)}
    return grants


OWNER_GRANTS: dict[str, tuple[Grant, ...]] = {OWNER: (("readwrite", "#"),)}


@dataclass(frozen=True, slots=True)
class Users:
    """The users of one broker: their passwords (in clear, for the clients) and their grants."""

    passwords: Mapping[str, str] = field(repr=False)
    grants: Mapping[str, tuple[Grant, ...]]

    def hashes(self) -> dict[str, str]:
        """Each user's password as the broker keeps it (`hashed`): never in clear."""
        return {user: hashed(password) for user, password in sorted(self.passwords.items())}

    def password_file(self) -> str:
        """Mosquitto's ``password_file``: ``user:$7$iterations$salt$hash``, as mosquitto_passwd does."""
        return "".join(f"{user}:{digest}\n" for user, digest in self.hashes().items())

    def write_broker_files(self, folder: Path) -> tuple[Path, Path]:
        """Write Mosquitto's ``passwd`` and ``acl`` into ``folder`` (0700), owner-only (0600)."""
        private_folder(folder)
        passwd, acl = folder / "passwd", folder / "acl"
        write_private(passwd, self.password_file())
        write_private(acl, self.acl_file())
        return passwd, acl

    def acl_file(self) -> str:
        """Mosquitto's ``acl_file``: a ``user`` block each, its topics; nothing for anyone else."""
        blocks = [
            f"user {user}\n" + "".join(f"topic {access} {topic}\n" for access, topic in grants)
            for user, grants in sorted(self.grants.items())
        ]
        return "# Written by router.bus.security: each role's topics, nothing for anyone else.\n\n" + (
            "\n".join(blocks)
        )


def hashed(password: str, salt: bytes | None = None) -> str:
    """``password`` as Mosquitto 2.0 stores it: ``$7$`` PBKDF2-SHA512, 101 iterations, a 12-byte salt."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS, 64)
    return f"$7${PBKDF2_ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify(password: str, stored: str) -> bool:
    """Whether ``password`` is the one `hashed` made ``stored`` from (compared in constant time)."""
    try:
        _, kind, iterations, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        salt_bytes = base64.b64decode(salt)
    except ValueError:
        return False
    if kind != "7" or iterations != str(PBKDF2_ITERATIONS):
        return False
    given = hashlib.pbkdf2_hmac("sha512", password.encode(), salt_bytes, PBKDF2_ITERATIONS, len(expected))
    return hmac.compare_digest(given, expected)


def new_password() -> str:
    """A password of 192 random bits, URL-safe (it may stand in ``mqtt://user:password@host``)."""
    return secrets.token_urlsafe(24)


def write_private(path: Path, text: str | bytes) -> None:
    """Write ``path`` readable and writable by its owner only (0600), whatever the umask.

    Created with its mode, not chmodded after: no moment when another user could open it.
    """
    data = text.encode() if isinstance(text, str) else text
    temporary = path.with_name(path.name + ".new")
    try:
        temporary.unlink(missing_ok=True)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        temporary.replace(path)
    except OSError as exc:
        raise BrokerError(f"cannot write {path}: {exc.strerror}") from None


def private_folder(folder: Path) -> Path:
    """``folder``, created if need be, open to its owner only (0700)."""
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        folder.chmod(0o700)
    except OSError as exc:
        raise BrokerError(f"credentials folder {folder}: {exc.strerror}") from None
    return folder


@dataclass(frozen=True, slots=True)
class Keyring:
    """A folder of passwords, one file a user (``<user>.password``), the router's own (0700, 0600)."""

    folder: Path

    def path(self, user: str) -> Path:
        """The file that holds ``user``'s password."""
        return self.folder / f"{user}{PASSWORD_SUFFIX}"

    def password(self, user: str) -> str | None:
        """``user``'s password, if the folder holds one."""
        try:
            return self.path(user).read_text().strip() or None
        except OSError:
            return None

    def ensure(self, users: Iterable[str]) -> dict[str, str]:
        """Every user's password: those the folder holds, and a new one for each user it does not.

        A password once written stays: a post added to the routing table gets its own at the next
        start, and every client already given one keeps it.
        """
        private_folder(self.folder)
        passwords: dict[str, str] = {}
        for user in users:
            password = self.password(user)
            if password is None:
                password = new_password()
                write_private(self.path(user), password + "\n")
            elif self.path(user).stat().st_mode & 0o077:
                self.path(user).chmod(0o600)  # a file opened to others by hand: owner-only again
            passwords[user] = password
        return passwords

    def users(self, posts: Iterable[str], network: Network | None = None) -> Users:
        """The users of a network with these posts, each with its password (`ensure`) and grants.

        A user per centre of ``network``; without one, of the committed network
        (`router.routing.network_description.DEFAULT_NETWORK`): a private broker started with
        no setup lets its centres in too.
        """
        if network is None:
            network = load_network()
        grants = grants_for(posts, network)
        return Users(self.ensure(grants), grants)
