"""A local partner's endpoint, secrets, tariff and reach; bad values refuse to load rather than fail at the first job."""

from __future__ import annotations

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from standardwebhooks import Webhook

from couriers.base import ServiceArea

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
JOB_ID_PLACEHOLDER = "{job_id}"


class WebhookPartnerSettings(BaseModel):
    """Per-partner configuration (a hospital's shelter driver pool, an ojek cooperative).

    ``signing_secret`` signs what we send; the partner verifies with it. ``webhook_secret`` is the one we gave the
    partner to sign status reports; leaving it unset refuses every report, so a forgotten secret cannot turn
    into an open endpoint. ``status_url`` is optional because a small partner may only be able to send webhooks;
    it contains ``{job_id}``. Tariffs are flat fee plus a price per started kilometre, as local partners quote
    them. A local partner always has a reach, so ``service_areas`` may not be empty.
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", str_strip_whitespace=True, hide_input_in_errors=True
    )

    url: str
    signing_secret: SecretStr
    webhook_secret: SecretStr | None = None
    status_url: str | None = None
    base_fee_idr: int = Field(ge=0)
    per_km_idr: int = Field(ge=0)
    service_areas: tuple[ServiceArea, ...] = Field(min_length=1)
    max_distance_km: float = Field(gt=0)
    cold_chain: bool = False
    same_day: bool = False
    # Standard Webhooks asks senders to wait 15-30 s; a partner's phone-backed server can be slow.
    timeout_seconds: float = Field(default=15.0, gt=0)

    @field_validator("url", "status_url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        # Job offers carry patients' names, phones and addresses; only a local test server may go without TLS.
        if value is None:
            return None
        url = httpx.URL(value)
        local = url.host in ("localhost", "127.0.0.1", "::1")
        if url.scheme != "https" and not (url.scheme == "http" and local):
            raise ValueError("partner URLs must use https")
        return value

    @field_validator("status_url")
    @classmethod
    def _names_the_job(cls, value: str | None) -> str | None:
        if value is not None and JOB_ID_PLACEHOLDER not in value:
            raise ValueError(f"status_url must contain {JOB_ID_PLACEHOLDER}")
        return value

    @field_validator("signing_secret", "webhook_secret")
    @classmethod
    def _whsec(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value()
        if not raw.startswith(SECRET_PREFIX):
            raise ValueError("webhook secrets start with whsec_")
        try:
            Webhook(raw)
        except Exception:  # bad base64 or an empty key; the message must not echo the secret
            raise ValueError("webhook secret is not valid non-empty base64 after whsec_") from None
        return value

    @field_validator("service_areas")
    @classmethod
    def _positive_radius(cls, value: tuple[ServiceArea, ...]) -> tuple[ServiceArea, ...]:
        if any(area.radius_km <= 0 for area in value):
            raise ValueError("every service area needs a positive radius_km")
        return value
