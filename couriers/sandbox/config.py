"""Sandbox knobs and the scripted courier journeys it can play."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ScenarioName = Literal["happy", "no_driver", "failed_delivery", "driver_cancels"]

# GoSend status codes (couriers.md table 1.8) in the order the simulated courier reaches them.
SCENARIOS: Mapping[ScenarioName, tuple[str, ...]] = {
    "happy": ("confirmed", "allocated", "out_for_pickup", "picked", "out_for_delivery", "delivered"),
    "no_driver": ("confirmed", "no_driver"),
    "failed_delivery": ("confirmed", "allocated", "out_for_pickup", "picked", "out_for_delivery", "rejected"),
    "driver_cancels": ("confirmed", "allocated", "cancelled"),
}


class SandboxConfig(BaseModel):
    """How one sandbox instance behaves.

    ``webhook_url`` unset means the sandbox only advances statuses (visible through the lookup API), which is
    enough for polling tests. ``duplicate_events`` and ``shuffle`` reproduce the repeated and out-of-order
    callbacks real couriers send, so the dispatcher's idempotency and ordering can be exercised.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    client_id: str = Field(default="sandbox-client-id", min_length=1)
    pass_key: str = Field(default="sandbox-pass-key", min_length=1)
    webhook_url: str | None = None
    webhook_header: str = Field(default="Authorization", min_length=1)
    webhook_token: str | None = "sandbox-webhook-token"  # noqa: S105 - a simulator's public demo token
    step_delay_seconds: float = Field(default=1.0, ge=0)
    default_scenario: ScenarioName = "happy"
    duplicate_events: bool = False
    shuffle: bool = False
    price_per_km_idr: int = Field(default=2_500, ge=0)
    minimum_price_idr: int = Field(default=10_000, ge=0)
    max_distance_km: float = Field(default=40.0, gt=0)
    webhook_attempts: int = Field(default=3, ge=1)
    webhook_retry_delay_seconds: float = Field(default=0.5, ge=0)
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)
    tracking_base_url: str = "https://gosend-sandbox.invalid/tracking"
