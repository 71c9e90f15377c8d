from __future__ import annotations

import pytest

from orchestratia.hub.services import throttle as throttle_module
from orchestratia.hub.services.throttle import LoginThrottle


def test_account_lockout_after_limit_and_reset_on_success() -> None:
    throttle = LoginThrottle(per_account=3, per_ip=100, window_seconds=60)
    for _ in range(3):
        assert throttle.retry_after("a@x", "1.1.1.1") == 0
        throttle.failed("a@x", "1.1.1.1")
    assert 0 < throttle.retry_after("A@X", "2.2.2.2") <= 61
    assert throttle.retry_after("b@x", "2.2.2.2") == 0
    throttle.succeeded("a@x")
    assert throttle.retry_after("a@x", "2.2.2.2") == 0


def test_ip_limit_spans_accounts() -> None:
    throttle = LoginThrottle(per_account=100, per_ip=2, window_seconds=60)
    throttle.failed("a@x", "9.9.9.9")
    throttle.failed("b@x", "9.9.9.9")
    assert throttle.retry_after("c@x", "9.9.9.9") > 0
    assert throttle.retry_after("c@x", "8.8.8.8") == 0


def test_window_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(throttle_module.time, "monotonic", lambda: now[0])
    throttle = LoginThrottle(per_account=1, per_ip=100, window_seconds=10)
    throttle.failed("a@x", "1.1.1.1")
    assert throttle.retry_after("a@x", "1.1.1.1") > 0
    now[0] += 10.5
    assert throttle.retry_after("a@x", "1.1.1.1") == 0
