"""Write docs/webhook-events.schema.json from the payload models; tests/unit/
test_webhook_schema.py fails while the file is stale. Run: ``.venv/bin/python
scripts/webhook_schema.py``."""

from __future__ import annotations

import json
from pathlib import Path

from orchestratia.protocol.integration_events import webhook_schema

TARGET = Path(__file__).resolve().parent.parent / "docs" / "webhook-events.schema.json"


def render() -> str:
    return json.dumps(webhook_schema(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    TARGET.write_text(render())
    print(f"wrote {TARGET}")
