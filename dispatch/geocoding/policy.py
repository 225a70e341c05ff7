"""A hospital's geocoding rules (``Hospital.geocoding_policy``): which sources place a patient, in which order,
how sure a place must be before a driver is sent there, and how far from the pharmacy the hospital delivers.

Every field has a working default, so an empty dict is a valid policy; online geocoders are off unless a
hospital lists one, because they send patients' addresses to a third party.
"""

from __future__ import annotations

from typing import Literal

from geopy.distance import geodesic
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

Step = Literal["confirmed", "code", "gazetteer", "online"]

# Indonesia's extent (Sabang to Merauke, Rote to Miangas) with a margin: a coarse test that catches swapped
# coordinates and the 0,0 of an unset GPS fix anywhere in the country; the service radius does the real limiting.
INDONESIA_LAT: tuple[float, float] = (-11.5, 6.5)
INDONESIA_LON: tuple[float, float] = (94.5, 141.5)


def in_indonesia(lat: float, lon: float) -> bool:
    return INDONESIA_LAT[0] <= lat <= INDONESIA_LAT[1] and INDONESIA_LON[0] <= lon <= INDONESIA_LON[1]


# A pin a person placed beats any inference from records: it is where the driver met the patient (or where
# the patient says they live, which the KTP address behind a Kemendagri code often is not).
DEFAULT_STEPS: tuple[Step, ...] = ("confirmed", "code", "gazetteer", "online")


class OnlineGeocoderConfig(BaseModel):
    """One online geocoder, reached through geopy.

    ``provider`` is a geopy service name ("nominatim", "photon", ...). Only Nominatim's answers say how
    precise they are (``place_rank``); any other provider's answers get ``confidence``, which stays below
    the default threshold so that they suggest a pin to staff rather than send a driver.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str = Field(min_length=2, max_length=32, pattern=r"^[a-z][a-z0-9_]*$")
    base_url: HttpUrl | None = Field(
        default=None,
        description="A self-hosted instance; None: geopy's default (for Nominatim, the OSMF server)",
    )
    user_agent: str = Field(
        min_length=8,
        max_length=200,
        description="Names the application and a contact, as Nominatim's usage policy requires",
    )
    min_delay_seconds: float = Field(
        default=1.0, ge=0, le=60, description="Between two requests; Nominatim's public server allows 1/s"
    )
    timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    confidence: float = Field(
        default=0.4, ge=0, le=0.8, description="For providers whose answers carry no precision of their own"
    )
    options: dict[str, str] = Field(
        default_factory=dict, description="Extra constructor arguments for the geopy geocoder (an api_key)"
    )
    cache_days: int = Field(default=90, ge=1, le=3650, description="How long an answer is reused")


class GeocodingPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: tuple[Step, ...] = Field(
        default=DEFAULT_STEPS,
        description="confirmed: the patient's pin from an earlier delivery; code: the Kemendagri desa code "
        "(FHIR administrativeCode); gazetteer: the address text; online: the geocoders in ``online``",
    )
    min_confidence: float = Field(
        default=0.5, ge=0, le=1, description="Below this a person places the pin (needs_address)"
    )
    service_radius_km: float = Field(
        default=60.0, gt=0, le=500, description="How far from the pharmacy the hospital delivers"
    )
    online: tuple[OnlineGeocoderConfig, ...] = Field(
        default=(), description="Asked in order; none by default"
    )

    @field_validator("steps")
    @classmethod
    def _distinct(cls, steps: tuple[Step, ...]) -> tuple[Step, ...]:
        if not steps or len(set(steps)) != len(steps):
            raise ValueError("steps must name each source at most once, and at least one")
        return steps

    def distance_outside(self, center: tuple[float, float], lat: float, lon: float) -> float | None:
        """How far from the pharmacy a point outside the service area lies (km); None when it is inside.

        A point outside Indonesia is outside whatever the radius, so a swapped pair never passes.
        """
        distance_km = float(geodesic(center, (lat, lon)).km) if -90 <= lat <= 90 else float("inf")
        if in_indonesia(lat, lon) and distance_km <= self.service_radius_km:
            return None
        return distance_km
