"""Lalamove credentials and knobs; invalid or empty credentials refuse to load rather than fail at first use.

Facts the public material leaves open (couriers.md marks them NOT FOUND, LOW or an open question) are settings
here, each with the reason for its default, so an operator can correct them without a code change.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from couriers.base import ServiceArea

# Production is https://rest.lalamove.com; the sandbox is the default: a missing setting books no real driver.
SANDBOX_BASE_URL = "https://rest.sandbox.lalamove.com"

# Lalamove Indonesia lists only these cities (couriers.md section 0.6 and 3, [L1]). Lalamove publishes no zone
# geometry, so these circles are OUR approximation: centre on the city centre, radius wide enough for the
# metropolitan area Lalamove names for the city (Jabodetabek for Jakarta, Cimahi for Bandung, Sidoarjo and
# Gresik for Surabaya). Lalamove still has the last word with ERR_OUT_OF_SERVICE_AREA.
DEFAULT_SERVICE_AREAS: tuple[ServiceArea, ...] = (
    ServiceArea(name="Jakarta", lat=-6.1754, lon=106.8272, radius_km=50.0),
    ServiceArea(name="Bandung", lat=-6.9175, lon=107.6191, radius_km=30.0),
    ServiceArea(name="Surabaya", lat=-7.2575, lon=112.7521, radius_km=30.0),
)

WebhookSignedData = Literal["stringify", "raw", "either"]


class LalamoveSettings(BaseModel):
    """Per-deployment Lalamove configuration.

    Webhooks are signed with the same API secret as our requests and carry our API key, so there is no
    separate webhook secret to forget: a configuration without ``api_secret`` does not load at all.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    api_key: str = Field(min_length=1)
    api_secret: SecretStr
    base_url: str = SANDBOX_BASE_URL
    # The docs say UN/LOCODE country code ("ID"); the official v3 samples still send city codes (SG_SIN).
    market: str = Field(default="ID", min_length=1)
    # en_ID or id_ID for Indonesia; the language of the addresses and texts Lalamove answers with.
    language: str = Field(default="id_ID", min_length=1)
    # Valid values differ per city and come from GET /v3/cities; motorbikes carry a pharmacy parcel.
    service_type: str = Field(default="MOTORCYCLE", min_length=1)
    # Ask the driver for a proof-of-delivery photo (documented as optional; never produced in the sandbox).
    pod_enabled: bool = True
    timeout_seconds: float = Field(default=10.0, gt=0)
    # Our margin, not Lalamove's: a quotation this close to its expiry is replaced before booking, since the
    # place-order call itself takes time and our clock may run behind Lalamove's.
    quote_margin_seconds: float = Field(default=15.0, ge=0)
    # Lalamove signs the path of the webhook URL we registered; behind a reverse proxy, the external path.
    webhook_path: str = Field(default="/webhooks/couriers/lalamove", min_length=1)
    # Open question (couriers.md section 8): receivers of Lalamove webhooks sign JSON.stringify(body.data),
    # which we reproduce ("stringify", the default); "raw" signs the bytes of ``data`` as received, "either"
    # accepts both.
    webhook_signed_data: WebhookSignedData = "stringify"
    # Lalamove retries a webhook for up to 24 hours and whether a retry is signed anew is NOT FOUND, so a
    # narrower window could refuse genuine retries; a replay inside it is caught by event-id de-duplication.
    webhook_max_age_seconds: float = Field(default=25 * 3600, gt=0)
    # How far ahead of our clock a webhook timestamp may be (clock skew tolerance is NOT FOUND; ours).
    webhook_max_skew_seconds: float = Field(default=300.0, ge=0)
    service_areas: tuple[ServiceArea, ...] = DEFAULT_SERVICE_AREAS

    @field_validator("api_secret")
    @classmethod
    def _api_secret_not_blank(cls, value: SecretStr) -> SecretStr:
        # An empty secret signs webhooks anyone can forge.
        if not value.get_secret_value().strip():
            raise ValueError("api_secret must not be empty")
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url_is_http(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("base_url must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("webhook_path")
    @classmethod
    def _webhook_path_is_a_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("webhook_path must be the path of the registered URL, starting with '/'")
        return value

    @field_validator("service_areas")
    @classmethod
    def _service_areas_not_empty(cls, value: tuple[ServiceArea, ...]) -> tuple[ServiceArea, ...]:
        # No areas would read as "no limit" in Capabilities, the opposite of an intra-city courier.
        if not value:
            raise ValueError("service_areas must name at least one city")
        return value
