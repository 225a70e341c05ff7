"""GrabExpress credentials and knobs; invalid or empty credentials refuse to load rather than fail at the first call."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

# couriers.md 2.1 (MED): production is https://partner-api.grab.com/grab-express; the sandbox is a path prefix on
# the same host. The sandbox is the default so a missing setting never books real drivers.
SANDBOX_BASE_URL = "https://partner-api.grab.com/grab-express-sandbox"
# couriers.md 2.1 (MED): one token endpoint serves both; the legacy stg-myteksi hosts need their own token_url.
GRABID_OAUTH_URL = "https://partner-api.grab.com/grabid/v1/oauth2/token"


class GrabExpressSettings(BaseModel):
    """Per-deployment GrabExpress configuration.

    ``webhook_token`` is the exact ``Authorization`` value we gave Grab support to send on every tracking
    webhook (Grab signs nothing, couriers.md 2.6). ``webhook_auth_id`` is the optional ``Authorization-Id``
    registered alongside it; when set, it must match as well. Leaving ``webhook_token`` unset disables
    webhooks: every callback is refused, so a forgotten secret cannot turn into an open endpoint.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    base_url: str = SANDBOX_BASE_URL
    token_url: str = GRABID_OAUTH_URL
    webhook_token: SecretStr | None = None
    webhook_auth_id: SecretStr | None = None
    # couriers.md 2.3 lists BIKE as Grab's default (MED); sent explicitly so a contract default cannot book a car.
    vehicle_type: str = Field(default="BIKE", min_length=1)
    # Airport-style city code ("CGK"); which code Grab expects for a regency such as Banyuwangi is NOT FOUND
    # (couriers.md 8), so it is left out of requests unless the contract names one.
    city_code: str | None = Field(default=None, min_length=1)
    # Required by Grab on sender and recipient (couriers.md 2.3); whether Grab texts them is the contract's call.
    sms_enabled: bool = True
    timeout_seconds: float = Field(default=10.0, gt=0)
    # couriers.md 2.7 (MED): 35 km is the default contract limit; a contract may say otherwise.
    max_distance_km: float = Field(default=35.0, gt=0)

    @field_validator("client_secret")
    @classmethod
    def _client_secret_not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("client_secret must not be empty")
        return value

    @field_validator("webhook_token", "webhook_auth_id")
    @classmethod
    def _webhook_secret_not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        # An empty value would match an absent header; "no webhooks" must be spelled as None.
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("must not be empty; leave it unset instead")
        return value

    @field_validator("base_url", "token_url")
    @classmethod
    def _is_http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")
