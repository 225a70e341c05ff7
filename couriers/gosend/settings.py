"""GoSend credentials and knobs; invalid or empty credentials refuse to load rather than fail at the first call."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

# Production is https://kilat-api.gojekapi.com; staging is the default so a missing setting never books real drivers.
STAGING_BASE_URL = "https://integration-kilat-api.gojekapi.com"


class GoSendSettings(BaseModel):
    """Per-deployment GoSend configuration.

    ``webhook_token`` is the static token GoSend is given to send back on every webhook (GoSend has no signature
    scheme). Leaving it unset disables webhooks: every callback is refused, so a forgotten secret cannot turn
    into an open endpoint.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    client_id: str = Field(min_length=1)
    pass_key: SecretStr
    base_url: str = STAGING_BASE_URL
    webhook_header: str = Field(default="Authorization", min_length=1)
    webhook_token: SecretStr | None = None
    # What our "instant" service books: GoSend also sells "InstantCar" for loads a motorbike cannot carry.
    shipment_method: str = Field(default="Instant", min_length=1)
    timeout_seconds: float = Field(default=10.0, gt=0)
    # GoSend Instant's public reach; a contract may say otherwise.
    max_distance_km: float = Field(default=40.0, gt=0)

    @field_validator("pass_key")
    @classmethod
    def _pass_key_not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("pass_key must not be empty")
        return value

    @field_validator("webhook_token")
    @classmethod
    def _webhook_token_not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        # An empty token would match an empty header; "no webhooks" must be spelled as None.
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("webhook_token must not be empty; leave it unset to refuse webhooks")
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url_is_http(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("base_url must be an http(s) URL")
        return value.rstrip("/")
