"""Online geocoders (Nominatim first) behind geopy's RateLimiter and a persistent answer cache.

They are the last resort of the locating chain, off unless a hospital lists one: they send a patient's
address to a third party, and public servers allow about one request a second (Nominatim's usage policy
also requires an identifying user agent and caching). So:

* an address is asked once per provider and service area: the answer, "nothing found" included, is kept in
  ``geocode_cache`` for ``cache_days``; a failure (timeout, 5xx, rate limit) is not kept and not retried here —
  the order goes to a person, which beats holding the order's row lock through ``error_wait_seconds``;
* requests to one service go through one RateLimiter per process, whichever hospital asks. Several worker
  processes each keep their own pace, so a public server needs ``min_delay_seconds`` × the worker count;
* results are limited to Indonesia (``countrycodes=id`` and a bounded viewbox around the pharmacy where the
  provider supports it) and checked again on arrival: a place outside the service area is refused, never used.

Confidence. Nominatim reports ``place_rank``, whose documented extents (nominatim.org, "Place Ranking") say how
far a point may be from the door: 500 m for isolated dwellings and city blocks (21-25), 1 km for hamlets and
neighbourhoods (20), 2 km for villages (19), 4 km for towns (17-18). Houses and POIs (28-30) and streets (26-27)
are finer. ``importance`` is not used: it measures prominence (Wikipedia links), not precision. The values stay
below the gazetteer's for a Kemendagri code (1.0) or a desa confirmed by its kecamatan (0.9), because
Nominatim matches names loosely and a same-named street elsewhere in the area is a plausible wrong answer.
Providers whose answers carry no precision get the configured fixed ``confidence`` (0.4 by default, below
the default threshold: a suggestion for staff, not a destination).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from math import cos, radians
from timeit import default_timer
from typing import Any, Final, Literal

import httpx
from geopy.adapters import AdapterHTTPError, BaseSyncAdapter
from geopy.distance import geodesic
from geopy.exc import GeocoderParseError, GeocoderServiceError, GeocoderTimedOut, GeocoderUnavailable
from geopy.extra.rate_limiter import RateLimiter
from geopy.geocoders import get_geocoder_for_service
from geopy.geocoders.base import Geocoder
from geopy.location import Location
from geopy.point import Point
from sqlmodel import Session

from dispatch.core.clock import utcnow
from dispatch.core.logging import log
from dispatch.geocoding import repository
from dispatch.geocoding.policy import INDONESIA_LAT, INDONESIA_LON, OnlineGeocoderConfig, in_indonesia

NOMINATIM: Final = "nominatim"

# place_rank (lowest of each band) -> confidence; see the module docstring.
NOMINATIM_CONFIDENCE: Final[tuple[tuple[int, float], ...]] = (
    (28, 0.75),  # houses, POIs, buildings: a point
    (26, 0.6),  # streets: a line, usually inside one desa
    (21, 0.6),  # isolated dwellings, city blocks: 500 m
    (20, 0.55),  # hamlets (dusun), neighbourhoods: 1 km
    (19, 0.5),  # villages, suburbs: 2 km
    (17, 0.3),  # towns: 4 km
    (0, 0.1),  # cities and larger: no use to a driver
)

Status = Literal["found", "not_found", "out_of_area", "error"]


@dataclass(frozen=True, slots=True)
class OnlineResult:
    """What one online geocoder made of an address: a location (also when out of area, to say where) or why not."""

    status: Status
    location: Location | None = None
    detail: str = ""


class HttpxAdapter(BaseSyncAdapter):
    """geopy's requests go through httpx, like every other outbound call here (and respx sees them in tests).

    Errors become the exceptions geopy's adapters must raise, so the geocoder maps them as it does its own.
    """

    def get_json(self, url: str, *, timeout: float, headers: Mapping[str, str]) -> Any:
        text = self.get_text(url, timeout=timeout, headers=headers)
        try:
            return json.loads(text)
        except ValueError as exc:
            raise GeocoderParseError(f"not JSON: {text[:200]!r}") from exc

    def get_text(self, url: str, *, timeout: float, headers: Mapping[str, str]) -> str:
        try:
            response = httpx.get(url, headers=dict(headers), timeout=timeout)
        except httpx.TimeoutException as exc:
            raise GeocoderTimedOut(f"no answer within {timeout} s") from exc
        except httpx.TransportError as exc:
            raise GeocoderUnavailable(str(exc)) from exc
        if response.status_code >= 400:
            raise AdapterHTTPError(
                f"HTTP {response.status_code}",
                status_code=response.status_code,
                headers=response.headers,
                text=response.text,
            )
        return response.text


def _call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return function(*args, **kwargs)


class ServiceLimiter(RateLimiter):
    """geopy's RateLimiter over any call to one service, with the clock and sleep injectable for tests.

    No retries and no swallowed errors: a failure must reach the chain as a failure, not as "nothing found"
    (which would be cached).
    """

    def __init__(
        self,
        min_delay_seconds: float,
        *,
        clock: Callable[[], float] = default_timer,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(
            _call,
            min_delay_seconds=min_delay_seconds,
            max_retries=0,
            error_wait_seconds=min_delay_seconds,
            swallow_exceptions=False,
        )
        self._clock_function = clock
        self._sleep_function = sleep

    def _clock(self) -> float:
        return self._clock_function()

    def _sleep(self, seconds: float) -> None:
        self._sleep_function(seconds)


_limiters: dict[tuple[str, str], ServiceLimiter] = {}
_limiters_lock = threading.Lock()


def service_limiter(config: OnlineGeocoderConfig) -> ServiceLimiter:
    """The process's limiter for the service the config names: hospitals sharing a server share one pace,
    the slowest any of them configured."""
    key = (config.provider, str(config.base_url or ""))
    with _limiters_lock:
        limiter = _limiters.get(key)
        if limiter is None:
            limiter = _limiters[key] = ServiceLimiter(config.min_delay_seconds)
        limiter.min_delay_seconds = max(limiter.min_delay_seconds, config.min_delay_seconds)
        return limiter


def build_geocoder(config: OnlineGeocoderConfig) -> Geocoder:
    """The geopy geocoder the config names, talking through httpx."""
    kwargs: dict[str, Any] = {
        **config.options,
        "user_agent": config.user_agent,
        "timeout": config.timeout_seconds,
        "adapter_factory": HttpxAdapter,
    }
    if config.base_url is not None:
        url = config.base_url
        port = "" if url.port in (None, 80, 443) else f":{url.port}"
        kwargs.update(scheme=url.scheme, domain=f"{url.host}{port}{(url.path or '').rstrip('/')}")
    geocoder_class: type[Geocoder] = get_geocoder_for_service(config.provider)
    return geocoder_class(**kwargs)


def nominatim_confidence(raw: Mapping[str, Any]) -> float:
    rank = int(raw.get("place_rank") or 0)
    return next(confidence for lowest, confidence in NOMINATIM_CONFIDENCE if rank >= lowest)


class OnlineGeocoder:
    """One configured provider: cache first, then one rate-limited request, then the service-area check."""

    def __init__(self, config: OnlineGeocoderConfig, *, limiter: ServiceLimiter | None = None) -> None:
        self.config = config
        self.geocoder = build_geocoder(config)
        self.limiter = service_limiter(config) if limiter is None else limiter

    def geocode(
        self, session: Session, text: str, *, center: tuple[float, float], radius_km: float
    ) -> OnlineResult:
        """The place the provider finds for ``text`` within ``radius_km`` of ``center`` (the pharmacy)."""
        query = " ".join(text.split())
        if not query:
            return OnlineResult("not_found", detail="no address text")
        viewbox = _viewbox(center, radius_km)
        key = _query_key(self.config, query, viewbox)
        since = utcnow() - timedelta(days=self.config.cache_days)
        entry = repository.cached_answer(session, self.config.provider, key, since=since)
        if entry is not None:
            answer = entry.result
        else:
            try:
                answer = self._ask(query, viewbox)
            except GeocoderServiceError as exc:
                log.warning("geocode.online_failed", provider=self.config.provider, error=str(exc))
                return OnlineResult("error", detail=f"{self.config.provider}: {type(exc).__name__}: {exc}")
            repository.store_answer(session, self.config.provider, key, answer)
        if answer is None:
            return OnlineResult("not_found", detail=f"{self.config.provider} found nothing")
        location = Location(answer["address"], (answer["lat"], answer["lon"]), answer["raw"])
        distance_km = float(geodesic(center, (location.latitude, location.longitude)).km)
        if not in_indonesia(location.latitude, location.longitude) or distance_km > radius_km:
            return OnlineResult(
                "out_of_area", location, f"{self.config.provider}: {distance_km:.1f} km from the pharmacy"
            )
        return OnlineResult("found", location)

    def _ask(self, query: str, viewbox: tuple[Point, Point]) -> dict[str, Any] | None:
        """One rate-limited request; the answer in the shape the cache keeps."""
        kwargs: dict[str, Any] = {"exactly_one": True}
        if self.config.provider == NOMINATIM:
            kwargs.update(country_codes="id", viewbox=viewbox, bounded=True)
        location = self.limiter(self.geocoder.geocode, query, **kwargs)
        if location is None:
            return None
        provider_raw = location.raw if isinstance(location.raw, Mapping) else {}
        if self.config.provider == NOMINATIM:
            confidence = nominatim_confidence(provider_raw)
            kept = {
                key: provider_raw.get(key) for key in ("osm_type", "osm_id", "class", "type", "place_rank")
            }
        else:
            confidence, kept = self.config.confidence, {}
        raw = {
            "level": "online",
            "code": None,
            "confidence": confidence,
            "provider": self.config.provider,
            "kecamatan_code": None,
            "kecamatan_name": None,
            **kept,
        }
        return {"address": location.address, "lat": location.latitude, "lon": location.longitude, "raw": raw}


def _viewbox(center: tuple[float, float], radius_km: float) -> tuple[Point, Point]:
    """The service circle's bounding box (a degree of latitude is ~111 km), kept inside Indonesia."""
    lat, lon = center
    dlat = radius_km / 111.0
    dlon = radius_km / (111.0 * max(cos(radians(lat)), 0.1))
    south, north = max(lat - dlat, INDONESIA_LAT[0]), min(lat + dlat, INDONESIA_LAT[1])
    west, east = max(lon - dlon, INDONESIA_LON[0]), min(lon + dlon, INDONESIA_LON[1])
    return Point(round(south, 4), round(west, 4)), Point(round(north, 4), round(east, 4))


def _query_key(config: OnlineGeocoderConfig, query: str, viewbox: tuple[Point, Point]) -> str:
    """The cache key: the same words asked of the same server for the same area."""
    material = {
        "base_url": str(config.base_url or ""),
        "query": query.casefold(),
        "viewbox": [[point.latitude, point.longitude] for point in viewbox],
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


@lru_cache(maxsize=32)
def _online_geocoder(config_json: str) -> OnlineGeocoder:
    return OnlineGeocoder(OnlineGeocoderConfig.model_validate_json(config_json))


def online_geocoder(config: OnlineGeocoderConfig) -> OnlineGeocoder:
    """One geocoder per configuration per process (built once; the limiter is per service anyway)."""
    return _online_geocoder(config.model_dump_json())
