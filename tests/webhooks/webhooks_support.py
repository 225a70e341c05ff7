"""Constants and settings shared by the webhook endpoint tests and their fixtures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "reference" / "examples" / "couriers"

GOSEND_BASE_URL = "https://gosend-webhooks.test"
WEBHOOK_TOKEN = "gosend-callback-token-1"
ORDER_NO = "GK-11-170563"


def gosend_settings(**overrides: Any) -> dict[str, Any]:
    return {
        "client_id": "rsud-blambangan",
        "pass_key": "pass-key-primary",
        "base_url": GOSEND_BASE_URL,
        "webhook_token": WEBHOOK_TOKEN,
        **overrides,
    }
