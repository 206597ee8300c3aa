"""A self-signed certificate for serving https and wss on loopback (`realtime-mock serve --tls`).

The official Node SDK dials only `wss:`, so a local mock must speak TLS and the client must trust its
certificate. The certificate made here names `localhost`, `127.0.0.1` and `::1` (Node checks an IP URL
against an IP subjectAltName, never against the common name) and is its own CA: a Node client trusts
it with `NODE_EXTRA_CA_CERTS=<cert.pem>`, a Python client with `ssl.create_default_context(cafile=...)`.

It is made once per folder and reused while it is valid for at least another day and still covers
those names; otherwise it is replaced (a new key and certificate).
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_DIR = Path(".realtime-mock") / "tls"  # under the current directory
CERT_FILE, KEY_FILE = "cert.pem", "key.pem"
DNS_NAMES = ("localhost",)
IP_ADDRESSES = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))
VALIDITY = datetime.timedelta(days=365)
RENEW_BEFORE = datetime.timedelta(days=1)  # a certificate this close to its end is replaced


def ensure_certificate(folder: str | os.PathLike[str] = DEFAULT_DIR) -> tuple[Path, Path]:
    """(certificate, private key) files in `folder`, both PEM: the existing ones when they are usable,
    otherwise new ones (the folder is created when missing)."""
    directory = Path(folder)
    cert_path, key_path = directory / CERT_FILE, directory / KEY_FILE
    if not is_usable(cert_path, key_path):
        directory.mkdir(parents=True, exist_ok=True)
        cert_pem, key_pem = make_certificate()
        _write(key_path, key_pem, mode=0o600)  # the key first: a certificate never points at a missing key
        _write(cert_path, cert_pem, mode=0o644)
    return cert_path, key_path


def is_usable(cert_path: Path, key_path: Path, *, now: datetime.datetime | None = None) -> bool:
    """Whether the pair exists, matches, covers the loopback names and stays valid beyond RENEW_BEFORE."""
    now = now or datetime.datetime.now(datetime.UTC)
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, TypeError, x509.ExtensionNotFound):
        return False
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    return (
        key.public_key().public_bytes(serialization.Encoding.DER, public)
        == cert.public_key().public_bytes(serialization.Encoding.DER, public)
        and cert.not_valid_before_utc <= now
        and now + RENEW_BEFORE < cert.not_valid_after_utc
        and set(DNS_NAMES) <= set(names.get_values_for_type(x509.DNSName))
        and set(IP_ADDRESSES) <= set(names.get_values_for_type(x509.IPAddress))
    )


def make_certificate(*, now: datetime.datetime | None = None) -> tuple[bytes, bytes]:
    """A new self-signed (certificate, private key), PEM, for the loopback names: an ECDSA P-256 key, valid
    for VALIDITY from a minute ago (clock skew), and marked as a CA so that it may be its own trust anchor."""
    now = now or datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "realtime-mock localhost"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "realtime-mock (self-signed, local use)")])
    alt_names: list[x509.GeneralName] = [x509.DNSName(n) for n in DNS_NAMES]
    alt_names += [x509.IPAddress(address) for address in IP_ADDRESSES]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _write(path: Path, data: bytes, *, mode: int) -> None:
    """Replace `path` at once (a server starting at the same moment reads the old file or the new one)."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
