"""Regenerate the published JSON Schemas from the payload models: ``python -m couriers.webhook``."""

from __future__ import annotations

import json
from pathlib import Path

from couriers.webhook.mapper import schemas

for name, schema in schemas().items():
    (Path(__file__).parent / name).write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n")
