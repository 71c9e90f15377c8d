"""Certificates for the TLS tests: a throwaway CA (``trustme``) and a hub certificate it signed
for 127.0.0.1 and localhost, written where a hub process can read them."""

from __future__ import annotations

from pathlib import Path

import trustme

from tests.e2e.processes import HubTls


def write_ca(ca: trustme.CA, path: Path) -> Path:
    ca.cert_pem.write_to_path(str(path))
    return path


def hub_certificate(directory: Path) -> HubTls:
    """A new CA and the hub's certificate (chain) and key signed by it."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    certfile, keyfile = directory / "hub-cert.pem", directory / "hub-key.pem"
    for i, pem in enumerate(issued.cert_chain_pems):
        pem.write_to_path(str(certfile), append=i > 0)
    issued.private_key_pem.write_to_path(str(keyfile))
    keyfile.chmod(0o600)
    return HubTls(certfile, keyfile, write_ca(ca, directory / "ca.pem"))


def other_ca(directory: Path) -> Path:
    """A CA that signed nothing the hub serves: trusting only it must fail verification."""
    directory.mkdir(parents=True, exist_ok=True)
    return write_ca(trustme.CA(), directory / "wrong-ca.pem")
