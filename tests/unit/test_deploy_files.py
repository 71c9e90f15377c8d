"""deploy/compose.yaml agrees with what the tests run: the hub settings it sets exist, the
nginx template's names are exactly those compose fills in, migrations run in one step before
replicas that do not migrate, and the hubs trust only the proxy's address."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from orchestratia.hub.settings import HubSettings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PLACEHOLDER = re.compile(r"\$\{(ORC_[A-Z_]+)\}")


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def test_every_hub_setting_in_compose_is_a_real_setting() -> None:
    services = compose()["services"]
    fields = {f"ORCHESTRATIA_{name.upper()}" for name in HubSettings.model_fields}
    for name in ("migrate", "hub-a", "hub-b"):
        env = services[name]["environment"]
        assert set(env) <= fields, set(env) - fields
        for needed in ("DATABASE_URL", "REDIS_URL", "REDIS_PREFIX", "SECRET_KEY"):
            assert f"ORCHESTRATIA_{needed}" in env
        assert "ORCHESTRATIA_ENCRYPTION_KEYS" in env and "ORCHESTRATIA_PUBLIC_URL" in env


def test_nginx_gets_exactly_the_names_its_template_uses() -> None:
    template = (DEPLOY / "nginx.conf").read_text()
    used = set(PLACEHOLDER.findall(template))
    nginx = compose()["services"]["nginx"]
    assert set(nginx["environment"]) == used
    script = " ".join(nginx["command"])
    substituted = set(
        re.findall(r"\$\$(ORC_[A-Z_]+)", script.split("<", 1)[0].split("envsubst")[1])
    )
    assert substituted == used, "envsubst must be told every name, and only those"
    # nginx's own variables in braces would be eaten by envsubst if ever listed: there are none.
    assert not re.findall(r"\$\{(?!ORC_)", template)


def test_migrations_run_once_before_replicas_that_do_not_migrate() -> None:
    services = compose()["services"]
    assert services["migrate"]["command"] == ["orchestratia", "hub", "migrate"]
    for name in ("hub-a", "hub-b"):
        assert "--no-migrate" in services[name]["command"]
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }


def test_hubs_trust_only_the_proxy() -> None:
    services = compose()["services"]
    proxy = services["nginx"]["networks"]["backend"]["ipv4_address"]
    for name in ("hub-a", "hub-b"):
        assert services[name]["environment"]["ORCHESTRATIA_TRUSTED_PROXIES"] == proxy
