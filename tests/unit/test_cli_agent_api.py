"""The agent API client: config precedence, error rendering, timeouts, id prefixes, ``--json``."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from orchestratia.cli.agent_api import AgentApi, render_detail
from orchestratia.cli.hub_access import (
    AgentApiError,
    AgentOptions,
    ClientConfig,
    read_daemon_config,
    resolve_config,
)
from orchestratia.cli.output import take_json_flag
from orchestratia.cli.task_ids import resolve_task_id
from orchestratia.protocol.task_replies import TaskList
from tests.unit.cli_fakes import TASK_A, TASK_B, TASK_C, FakeHub, task_public

Handler = Callable[[httpx.Request], httpx.Response]


CONFIG = ClientConfig("https://hub.test", "orcs_key", "sess-1", "proj-1", "worker", 15.0)


def api_for(hub: FakeHub, config: ClientConfig = CONFIG) -> AgentApi:
    return AgentApi(config, transport=hub.transport)


# --- configuration -----------------------------------------------------------------------------


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(text)
    return path


def test_explicit_options_beat_environment_and_environment_beats_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, "hub_url: https://file.test\napi_key: file_key\n")
    env = {"ORCHESTRATIA_HUB_URL": "https://env.test/", "ORCHESTRATIA_API_KEY": "env_key"}
    config = resolve_config(AgentOptions(api_key="opt_key", config_path=path), env)
    assert (config.hub_url, config.api_key) == ("https://env.test", "opt_key")
    config = resolve_config(AgentOptions(config_path=path), {"ORCHESTRATIA_API_KEY": "env_key"})
    assert (config.hub_url, config.api_key) == ("https://file.test", "env_key")


def test_session_project_role_and_timeout_come_from_environment(tmp_path: Path) -> None:
    env = {
        "ORCHESTRATIA_HUB_URL": "https://hub.test",
        "ORCHESTRATIA_API_KEY": "k",
        "ORCHESTRATIA_SESSION_ID": "s",
        "ORCHESTRATIA_PROJECT_ID": "p",
        "ORCHESTRATIA_ROLE": "reviewer",
        "ORCHESTRATIA_TIMEOUT": "2.5",
    }
    config = resolve_config(AgentOptions(config_path=tmp_path / "none.yaml"), env)
    assert config == ClientConfig("https://hub.test", "k", "s", "p", "reviewer", 2.5)
    config = resolve_config(AgentOptions(session_id="s2", timeout=7), env)
    assert (config.session_id, config.timeout) == ("s2", 7.0)


def test_default_timeout_is_fifteen_seconds(tmp_path: Path) -> None:
    env = {"ORCHESTRATIA_HUB_URL": "https://h", "ORCHESTRATIA_API_KEY": "k"}
    assert resolve_config(AgentOptions(), env).timeout == 15.0


@pytest.mark.parametrize("raw", ["soon", "0", "-1", "99999"])
def test_bad_timeout_is_a_clear_error(raw: str) -> None:
    env = {"ORCHESTRATIA_HUB_URL": "https://h", "ORCHESTRATIA_API_KEY": "k"}
    with pytest.raises(AgentApiError, match="ORCHESTRATIA_TIMEOUT must be a number"):
        resolve_config(AgentOptions(), {**env, "ORCHESTRATIA_TIMEOUT": raw})


def test_file_is_not_read_when_environment_has_everything(tmp_path: Path) -> None:
    broken = write_config(tmp_path, "hub_url: [unclosed\n")
    env = {"ORCHESTRATIA_HUB_URL": "https://h", "ORCHESTRATIA_API_KEY": "k"}
    assert resolve_config(AgentOptions(config_path=broken), env).api_key == "k"
    with pytest.raises(AgentApiError, match="cannot read config file"):
        resolve_config(AgentOptions(config_path=broken), {"ORCHESTRATIA_HUB_URL": "https://h"})


def test_default_config_path_is_the_daemons(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(tmp_path, "hub_url: https://daemon.test\napi_key: orc_server\nname: x\n")
    monkeypatch.setenv("ORCHESTRATIA_AGENT_CONFIG", str(path))
    config = resolve_config(AgentOptions(), {})
    assert (config.hub_url, config.api_key) == ("https://daemon.test", "orc_server")


def test_missing_settings_say_what_to_set(tmp_path: Path) -> None:
    none = AgentOptions(config_path=tmp_path / "missing.yaml")
    with pytest.raises(AgentApiError, match="no hub URL: set ORCHESTRATIA_HUB_URL"):
        resolve_config(none, {})
    with pytest.raises(AgentApiError, match="no API key: set ORCHESTRATIA_API_KEY"):
        resolve_config(none, {"ORCHESTRATIA_HUB_URL": "https://h"})
    with pytest.raises(AgentApiError, match="must start with http"):
        resolve_config(none, {"ORCHESTRATIA_HUB_URL": "hub.test", "ORCHESTRATIA_API_KEY": "k"})


def test_config_file_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(AgentApiError, match="is not a YAML mapping"):
        read_daemon_config(write_config(tmp_path, "- a\n- b\n"))
    assert read_daemon_config(tmp_path / "absent.yaml") == {}


# --- requests and errors -----------------------------------------------------------------------


def test_requests_carry_the_key_and_drop_empty_params() -> None:
    hub = FakeHub({("GET", "tasks"): {"tasks": [], "count": 0}})
    with api_for(hub) as api:
        reply = api.list_tasks(status=None, project_id="proj-1")
        assert reply.raw == {"tasks": [], "count": 0}
        assert reply.data == TaskList(tasks=[], count=0)
    sent = hub.requests[0]
    assert str(sent.url) == "https://hub.test/api/v1/server/tasks?project_id=proj-1"
    assert sent.headers["X-API-Key"] == "orcs_key"


def test_path_segments_are_escaped() -> None:
    hub = FakeHub()
    with api_for(hub) as api, pytest.raises(AgentApiError):
        api.get_task("../servers")
    assert hub.requests[0].url.raw_path == b"/api/v1/server/tasks/..%2Fservers"


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(404, json={"detail": "task not found"}), "HTTP 404: task not found"),
        (
            httpx.Response(409, json={"detail": "task is blocked by:\n  1a2b (running)"}),
            "HTTP 409: task is blocked by: 1a2b (running)",
        ),
        (
            httpx.Response(
                422,
                json={
                    "detail": [
                        {
                            "loc": ["body", "result", "contracts", "api", "type"],
                            "msg": "Field required",
                        },
                        {"loc": ["query", "status"], "msg": "bad status", "type": "x"},
                    ]
                },
            ),
            "HTTP 422: result.contracts.api.type: Field required; query.status: bad status",
        ),
        (
            httpx.Response(502, text="<html>Bad   gateway</html>"),
            "HTTP 502: <html>Bad gateway</html>",
        ),
        (httpx.Response(503), "HTTP 503: Service Unavailable"),
    ],
)
def test_http_errors_become_one_line(response: httpx.Response, message: str) -> None:
    hub = FakeHub({("GET", "status"): response})
    with api_for(hub) as api, pytest.raises(AgentApiError) as caught:
        api.status("sess-1")
    assert str(caught.value) == message
    assert caught.value.status == response.status_code


def test_render_detail_shapes() -> None:
    assert render_detail("plain") == "plain"
    assert render_detail([{"loc": ["body"], "msg": "bad body"}]) == "bad body"
    assert render_detail([{"loc": ["body", "tasks", 0, "title"], "msg": "m"}]) == "tasks.0.title: m"
    assert render_detail({"code": 1}) == '{"code": 1}'


def test_connection_errors_and_timeouts_are_one_line() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    def stall(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with (
        AgentApi(CONFIG, transport=httpx.MockTransport(refuse)) as api,
        pytest.raises(
            AgentApiError, match=r"^cannot reach hub at https://hub.test: Connection refused$"
        ),
    ):
        api.servers()
    with (
        AgentApi(CONFIG, transport=httpx.MockTransport(stall)) as api,
        pytest.raises(AgentApiError, match=r"^hub at https://hub.test did not answer within 15 s$"),
    ):
        api.servers()


def test_no_content_and_non_json_replies() -> None:
    hub = FakeHub(
        {
            ("DELETE", f"tasks/{TASK_A}/dependencies/{TASK_C}"): httpx.Response(204),
            ("GET", "servers"): httpx.Response(200, text="not json"),
        }
    )
    with api_for(hub) as api:
        # A 204 reply is no value at run time too, not just in the annotation.
        assert api.remove_dependency(TASK_A, TASK_C) is None  # type: ignore[func-returns-value]
        with pytest.raises(AgentApiError, match="not JSON"):
            api.servers()


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def test_a_silent_hub_times_out_on_the_configured_deadline(silent_server: str) -> None:
    config = ClientConfig(silent_server, "k", None, None, None, 0.3)
    started = time.monotonic()
    with (
        AgentApi(config) as api,
        pytest.raises(AgentApiError, match=r"did not answer within 0\.3 s"),
    ):
        api.status(None)
    assert time.monotonic() - started < 5


# --- task id prefixes --------------------------------------------------------------------------


def test_full_uuid_is_used_without_a_lookup() -> None:
    hub = FakeHub()
    with api_for(hub) as api:
        assert resolve_task_id(api, TASK_A.upper()) == TASK_A
    assert hub.requests == []


def test_unique_prefix_resolves_from_the_task_list() -> None:
    hub = FakeHub(
        {("GET", "tasks"): {"tasks": [task_public(TASK_A), task_public(TASK_C)], "count": 2}}
    )
    with api_for(hub) as api:
        assert resolve_task_id(api, "5E6F") == TASK_C
    assert hub.calls() == [("GET", "tasks")]
    assert hub.requests[0].url.params["project_id"] == "proj-1"


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("1a2", "too short: give at least 4 characters"),
        ("1a2b", "ambiguous \\(2 match: 1a2b3c4d-000, 1a2b9999-000\\)"),
        ("ffff", "no task id starts with 'ffff'"),
    ],
)
def test_bad_prefixes_are_explained(ref: str, message: str) -> None:
    hub = FakeHub(
        {
            ("GET", "tasks"): {"tasks": [task_public(TASK_A), task_public(TASK_B)], "count": 2},
            ("GET", "tasks/check"): {"tasks": [], "count": 0},
        }
    )
    with api_for(hub) as api, pytest.raises(AgentApiError, match=message):
        resolve_task_id(api, ref)


def test_prefix_falls_back_to_this_sessions_tasks() -> None:
    hub = FakeHub(
        {
            ("GET", "tasks"): {"tasks": [task_public(TASK_A)], "count": 1},
            ("GET", "tasks/check"): {"tasks": [task_public(TASK_C)], "count": 1},
        }
    )
    with api_for(hub) as api:
        assert resolve_task_id(api, "5e6f7a") == TASK_C
    assert hub.calls() == [("GET", "tasks"), ("GET", "tasks/check")]
    assert hub.requests[1].url.params["session_id"] == "sess-1"


# --- --json anywhere ---------------------------------------------------------------------------


def test_json_flag_is_taken_from_anywhere_before_a_double_dash() -> None:
    assert take_json_flag(["task", "--json", "view", "abcd", "--json"]) == (
        ["task", "view", "abcd"],
        True,
    )
    assert take_json_flag(["task", "note", "x", "--", "--json"]) == (
        ["task", "note", "x", "--", "--json"],
        False,
    )
