"""``hub doctor`` on a real SQLite hub made by the CLI: keys that open its sealed secrets pass,
a data dir others can read warns, a key replaced under the same id fails, and a database
behind the code's migrations fails with the command that fixes it."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from orchestratia.hub.sealed_columns import TOTP_SECRET
from orchestratia.hub.sealing import Keyring


def hub(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRATIA_")}
    env |= {"ORCHESTRATIA_DATA_DIR": str(data_dir), "COLUMNS": "250"}
    return subprocess.run(
        [sys.executable, "-m", "orchestratia", "hub", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def findings(data_dir: Path) -> tuple[int, dict[str, dict[str, str]]]:
    done = hub(data_dir, "doctor", "--json")
    return done.returncode, {f["check"]: f for f in json.loads(done.stdout)}


def test_doctor_checks_keys_permissions_and_migrations(tmp_path: Path) -> None:
    data = tmp_path / "hub"
    made = hub(data, "create-admin", "--email", "ops@example.com", "--password", "pw-123456")
    assert made.returncode == 0, made.stderr
    # A real sealed secret in a real row, sealed with the hub's own keyring.
    ring = Keyring.load(data)
    db = sqlite3.connect(data / "hub.db")
    (user_id,) = db.execute("SELECT id FROM users").fetchone()
    sealed = ring.seal("JBSWY3DPEHPK3PXP", TOTP_SECRET.aad(user_id))
    db.execute("UPDATE users SET totp_secret_enc = ? WHERE id = ?", (sealed, user_id))
    db.commit()

    code, found = findings(data)
    assert code == 0, found
    assert found["sealed values"]["status"] == "ok", found["sealed values"]
    assert found["encryption keys"]["detail"].startswith(f"1 key(s) from {data / 'keys'}")
    assert (found["migrations"]["status"], found["data dir"]["status"]) == ("ok", "ok")

    data.chmod(0o755)
    code, found = findings(data)
    assert code == 0 and found["data dir"]["status"] == "warn"
    assert found["data dir"]["fix"] == f"chmod 700 {data}"
    data.chmod(0o700)

    # A restore that put another key under the same id: present, but opens nothing.
    key_file = data / "keys" / f"{ring.current}.key"
    key_file.write_text(base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=") + "\n")
    code, found = findings(data)
    assert code == 1
    assert found["sealed values"]["status"] == "fail"
    assert "users.totp_secret_enc" in found["sealed values"]["detail"]
    assert "does not open" in found["sealed values"]["detail"]

    # A database one migration behind.
    (head,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
    db.execute("UPDATE alembic_version SET version_num = ?", (f"{int(head) - 1:04d}",))
    db.commit()
    db.close()
    code, found = findings(data)
    assert code == 1
    assert found["migrations"]["status"] == "fail"
    assert found["migrations"]["fix"] == "orchestratia hub migrate"
