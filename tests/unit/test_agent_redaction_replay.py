"""Redaction gives, byte for byte, what the regex-per-rule redactor recorded for a fixed corpus.

The corpus (``redaction_corpus``) cuts every input several ways, so this also checks that the
output never depends on how the stream was split into reads, flushes or a resume.
"""

from __future__ import annotations

import json

import pytest

from tests.unit.redaction_corpus import EXPECTED, cases, trace

GROUPS = 4


@pytest.mark.parametrize("group", range(GROUPS))
def test_every_recorded_run_is_replayed_exactly(group: int) -> None:
    expected: dict[str, str] = json.loads(EXPECTED.read_text())
    mine = [case for index, case in enumerate(cases()) if index % GROUPS == group]
    assert len(mine) > 100
    differing = [case.name for case in mine if trace(case) != expected.pop(case.name, None)]
    assert differing == []


def test_the_corpus_is_the_recorded_one() -> None:
    assert sorted(case.name for case in cases()) == sorted(json.loads(EXPECTED.read_text()))
