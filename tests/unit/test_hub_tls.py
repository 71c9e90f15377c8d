"""The TLS rules shared by the daemon and the CLI, and the hub's check of its certificate files
before serving."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trustme
from typer.testing import CliRunner

from orchestratia.agent.link.hub_tls import (
    HubTlsError,
    certificate_error,
    certificate_message,
    check_plain_transport,
    client_context,
    session_variables,
)
from orchestratia.agent.sessions.launch import session_environment
from orchestratia.cli.hub import app
from orchestratia.hub.doctor.tls import check as doctor_tls_check
from orchestratia.hub.settings import HubSettings
from orchestratia.hub.tls import TlsFilesError, check_tls_files
from orchestratia.loopback import is_loopback
from orchestratia.protocol.sessions import SessionStartFrame


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST.", True),
        ("hub.localhost", False),
        ("10.0.0.1", False),
        ("192.168.1.5", False),
        ("hub.example.com", False),
        ("localhost.example.com", False),
        ("", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_plain_transport_only_on_loopback_or_when_allowed() -> None:
    check_plain_transport("http://127.0.0.1:8765", False, "fix")
    check_plain_transport("https://hub.example.com", False, "fix")
    check_plain_transport("http://hub.example.com", True, "fix")
    with pytest.raises(HubTlsError) as refused:
        check_plain_transport("http://hub.example.com:8765", False, "set the switch")
    assert str(refused.value) == (
        "refusing plain http:// / ws:// to hub.example.com: the server key and terminal output "
        "would cross the network unencrypted; use an https:// hub URL, or set the switch if "
        "this network is trusted"
    )


def test_a_ca_bundle_that_cannot_be_used_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(HubTlsError, match=r"^cannot use CA bundle .*missing\.pem: No such file"):
        client_context(tmp_path / "missing.pem")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(HubTlsError, match=r"^cannot use CA bundle .*junk\.pem"):
        client_context(junk)
    ca = trustme.CA()
    good = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(good))
    assert client_context(good).verify_mode == ssl.CERT_REQUIRED


def test_certificate_failures_are_found_inside_wrappers() -> None:
    cause = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] ...")
    cause.verify_message = "self-signed certificate"
    try:
        try:
            raise cause
        except ssl.SSLError as exc:
            raise ConnectionError("wrapped") from exc
    except ConnectionError as wrapped:
        found = certificate_error(wrapped)
    assert found is cause
    assert certificate_error(ConnectionError("refused")) is None
    assert certificate_message("https://hub.example.com:8443", cause, "pass the CA") == (
        "TLS to the hub at hub.example.com failed: certificate verify failed: self-signed "
        "certificate; if its certificate comes from a private CA, pass the CA"
    )


def test_sessions_inherit_how_the_daemon_reaches_the_hub(tmp_path: Path) -> None:
    frame = SessionStartFrame(session_id="s1", working_directory="~", project_id="p1")
    access = session_variables(tmp_path / "ca.pem", True)
    env = session_environment("https://hub", frame, hub_access=access)
    assert env["ORCHESTRATIA_CA_FILE"] == str(tmp_path / "ca.pem")
    assert env["ORCHESTRATIA_ALLOW_INSECURE"] == "1"
    assert session_variables(None, False) == {}


@pytest.fixture
def issued(tmp_path: Path) -> tuple[Path, Path]:
    cert = trustme.CA().issue_cert("127.0.0.1")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    return certfile, keyfile


def test_matching_files_pass(issued: tuple[Path, Path]) -> None:
    check_tls_files(*issued)


def test_unusable_files_are_named(issued: tuple[Path, Path], tmp_path: Path) -> None:
    certfile, keyfile = issued
    with pytest.raises(TlsFilesError, match=r"^cannot read TLS certificate .*nope\.pem: No such"):
        check_tls_files(tmp_path / "nope.pem", keyfile)
    unreadable = tmp_path / "dir.pem"
    unreadable.mkdir()
    with pytest.raises(TlsFilesError, match=r"^cannot read TLS key .*dir\.pem: Is a directory"):
        check_tls_files(certfile, unreadable)
    with pytest.raises(TlsFilesError, match=r"holds no PEM certificate"):
        check_tls_files(keyfile, keyfile)
    with pytest.raises(TlsFilesError, match=r"holds no PEM private key"):
        check_tls_files(certfile, certfile)
    other_key = tmp_path / "other-key.pem"
    trustme.CA().issue_cert("127.0.0.1").private_key_pem.write_to_path(str(other_key))
    with pytest.raises(TlsFilesError, match=r"other-key\.pem does not match the certificate"):
        check_tls_files(certfile, other_key)


def test_hub_serve_refuses_bad_tls_before_listening(
    issued: tuple[Path, Path], tmp_path: Path
) -> None:
    certfile, _ = issued
    env = {"ORCHESTRATIA_DATA_DIR": str(tmp_path / "data"), "ORCHESTRATIA_TLS_KEYFILE": ""}
    runner = CliRunner()
    only_cert = runner.invoke(app, ["serve", "--port", "1", "--certfile", str(certfile)], env=env)
    assert only_cert.exit_code == 1
    assert "TLS needs both a certificate and its key" in only_cert.output
    args = ["serve", "--port", "1", "--certfile", str(certfile), "--keyfile", str(certfile)]
    wrong_key = runner.invoke(app, args, env=env)
    assert wrong_key.exit_code == 1
    assert "holds no PEM private key" in wrong_key.output
    assert not (tmp_path / "data").exists()  # nothing migrated, nothing bound


def test_hub_doctor_checks_the_pair_hub_serve_uses(
    issued: tuple[Path, Path], tmp_path: Path
) -> None:
    certfile, keyfile = issued
    good = doctor_tls_check(
        HubSettings(data_dir=tmp_path, tls_certfile=certfile, tls_keyfile=keyfile)
    )
    assert good.status == "ok" and str(certfile) in good.detail
    other_key = tmp_path / "other-key.pem"
    trustme.CA().issue_cert("127.0.0.1").private_key_pem.write_to_path(str(other_key))
    bad = doctor_tls_check(
        HubSettings(data_dir=tmp_path, tls_certfile=certfile, tls_keyfile=other_key)
    )
    assert bad.status == "fail"
    assert f"TLS key {other_key} does not match the certificate {certfile}" in bad.detail
