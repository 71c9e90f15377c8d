"""The hub's own TLS (``hub serve --certfile --keyfile``): the files are checked before serving,
so a typo, a permission problem or a key of another certificate is one clear line at start-up
rather than a traceback from inside the server, or a hub that fails every handshake."""

from __future__ import annotations

import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization


class TlsFilesError(Exception):
    """The certificate or key cannot be used; the message names the file and the fix."""


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TlsFilesError(f"cannot read TLS {what} {path}: {exc.strerror or exc}") from None


def server_certificate(certfile: Path) -> x509.Certificate:
    """The first certificate in ``certfile`` (the server's own); TlsFilesError unless the file
    holds PEM certificates."""
    cert_pem = _read(certfile, "certificate")
    try:
        return x509.load_pem_x509_certificates(cert_pem)[0]
    except ValueError:
        raise TlsFilesError(f"TLS certificate {certfile} holds no PEM certificate") from None


def check_tls_files(certfile: Path, keyfile: Path) -> x509.Certificate:
    """Raise TlsFilesError unless ``certfile`` holds PEM certificates, ``keyfile`` an unencrypted
    PEM private key, and that key belongs to the first certificate (the server's own), which is
    answered (``hub doctor`` reads its expiry)."""
    leaf = server_certificate(certfile)
    key_pem = _read(keyfile, "key")
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise TlsFilesError(
            f"TLS key {keyfile} is encrypted; give the hub an unencrypted key (mode 0600)"
        ) from None
    except ValueError:
        raise TlsFilesError(f"TLS key {keyfile} holds no PEM private key") from None
    mine = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, mine) != leaf.public_key().public_bytes(der, mine):
        raise TlsFilesError(
            f"TLS key {keyfile} does not match the certificate {certfile} "
            "(the first certificate in the file must be the server's own)"
        )
    # What the server will do with them, so anything else OpenSSL dislikes shows here too.
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certfile, keyfile)
    except ssl.SSLError as exc:
        raise TlsFilesError(
            f"TLS certificate {certfile} is unusable: {exc.reason or exc}"
        ) from None
    return leaf
