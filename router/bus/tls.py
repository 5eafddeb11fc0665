"""TLS material the router makes itself: a CA of its own, the broker's and clients' certificates.

Made with the `cryptography` library (ECDSA P-256, SHA-256): ``ca.crt`` is what a client trusts
(``--cafile``); ``broker.crt`` names the hosts a client may connect by (127.0.0.1 and localhost
always), so the client's hostname check holds. Keys are written 0600.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from router.bus.security import private_folder, write_private
from router.errors import BrokerError

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

AUTHORITY_DAYS = 3650
CERTIFICATE_DAYS = 825
"""The longest a server certificate may be valid for clients that follow the CA/Browser rules."""
LOCAL_HOSTS = ("127.0.0.1", "localhost")


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """A broker's TLS files: the CA that signed its certificate, the certificate and its key."""

    cafile: Path
    certfile: Path
    keyfile: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "router"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_private(path, pem)


def _authority(folder: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The folder's CA (``ca.crt``, ``ca.key``), made the first time it is asked for."""
    cert_path, key_path = folder / "ca.crt", folder / "ca.key"
    if cert_path.exists() and key_path.exists():
        try:
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        except (OSError, ValueError) as exc:
            raise BrokerError(f"the CA in {folder} cannot be read: {exc}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise BrokerError(f"the CA key {key_path} is not an EC key made by router")
        return certificate, key
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name("router CA"))
        .issuer_name(_name("router CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=AUTHORITY_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_key(key_path, key)
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return certificate, key


def issue(folder: Path, name: str, *, hosts: Iterable[str] = (), server: bool = True) -> TlsFiles:
    """A certificate ``<name>.crt`` and key ``<name>.key`` signed by the folder's CA (made if need be).

    A server's certificate names ``hosts`` beside 127.0.0.1 and localhost; a client's (``server``
    False) names ``name`` only, for a broker that asks its clients for a certificate.
    """
    private_folder(folder)
    authority, authority_key = _authority(folder)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(authority.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=CERTIFICATE_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(authority_key.public_key()), critical=False
        )
    )
    if server:
        names = dict.fromkeys([*LOCAL_HOSTS, *hosts])
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(host) for host in names]), critical=False
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    else:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    certificate = builder.sign(authority_key, hashes.SHA256())
    files = TlsFiles(folder / "ca.crt", folder / f"{name}.crt", folder / f"{name}.key")
    _write_key(files.keyfile, key)
    files.certfile.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return files


def _general_name(host: str) -> x509.GeneralName:
    """An IP address as an IP address (a client checks it so), anything else as a DNS name."""
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def broker_files(folder: Path, *, hosts: Iterable[str] = ()) -> TlsFiles:
    """The broker's TLS files in ``folder``: the ones there, else new ones (and the CA, if need be)."""
    files = TlsFiles(folder / "ca.crt", folder / "broker.crt", folder / "broker.key")
    if all(path.exists() for path in (files.cafile, files.certfile, files.keyfile)) and not list(hosts):
        return files
    return issue(folder, "broker", hosts=hosts)
