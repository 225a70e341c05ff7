"""Online geocoding through geopy's Nominatim: the request it sends, the answer's shape and confidence, the
persistent cache, the rate limit (fake clock, no real waits), failures, and answers outside the service area.

Nominatim is mocked with respx in its documented ``format=json`` search output (nominatim.org, "Place Output").
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx
from pydantic import ValidationError
from sqlmodel import Session, select

from dispatch.core.clock import utcnow
from dispatch.demo_data import HOSPITAL
from dispatch.geocoding.models import GeocodeCacheEntry
from dispatch.geocoding.online import OnlineGeocoder, ServiceLimiter, nominatim_confidence, service_limiter
from dispatch.geocoding.policy import GeocodingPolicy, OnlineGeocoderConfig

PHARMACY = (HOSPITAL.lat, HOSPITAL.lon)
RADIUS_KM = 60.0
USER_AGENT = "gancang-test/1.0 (farmasi@rsud.example)"
SEARCH = "https://nominatim.openstreetmap.org/search"
ADDRESS = "Jl. Letkol Istiqlah No. 49, Singonegaran, Banyuwangi"


def nominatim_place(lat: str = "-8.2098", lon: str = "114.3671", place_rank: int = 30, **fields: Any) -> dict:
    """One place of Nominatim's JSON search output, with the fields the documentation lists."""
    return {
        "place_id": 187543211,
        "licence": "Data © OpenStreetMap contributors, ODbL 1.0. http://osm.org/copyright",
        "osm_type": "way",
        "osm_id": 311236178,
        "lat": lat,
        "lon": lon,
        "class": "amenity",
        "type": "hospital",
        "place_rank": place_rank,
        "importance": 0.31,
        "addresstype": "amenity",
        "name": "RSUD Blambangan",
        "display_name": "RSUD Blambangan, Jalan Letkol Istiqlah, Singonegaran, Banyuwangi, Jawa Timur, 68415, Indonesia",
        "boundingbox": ["-8.2103", "-8.2093", "114.3666", "114.3676"],
        **fields,
    }


class FakeTime:
    """A clock that only moves when the limiter sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def nominatim(fake_time: FakeTime, **config: Any) -> OnlineGeocoder:
    settings = OnlineGeocoderConfig(provider="nominatim", user_agent=USER_AGENT, **config)
    limiter = ServiceLimiter(settings.min_delay_seconds, clock=fake_time.clock, sleep=fake_time.sleep)
    return OnlineGeocoder(settings, limiter=limiter)


def cache_rows(session: Session) -> list[GeocodeCacheEntry]:
    session.expire_all()
    return list(session.exec(select(GeocodeCacheEntry)).all())


def test_the_request_is_limited_to_indonesia_and_the_service_area_and_names_the_application(
    session, fake_time
):
    with respx.mock(assert_all_called=True) as router:
        route = router.get(SEARCH).mock(return_value=httpx.Response(200, json=[nominatim_place()]))
        result = nominatim(fake_time).geocode(session, ADDRESS, center=PHARMACY, radius_km=RADIUS_KM)

    request = route.calls.last.request
    params = dict(request.url.params)
    viewbox = [float(value) for value in params.pop("viewbox").split(",")]
    assert params == {"q": ADDRESS, "format": "json", "limit": "1", "countrycodes": "id", "bounded": "1"}
    assert request.headers["User-Agent"] == USER_AGENT
    # The service circle's box, west,south,east,north: 60 km is about 0.54 degrees of latitude.
    west, south, east, north = viewbox
    assert south == pytest.approx(HOSPITAL.lat - 0.5405, abs=1e-3)
    assert north == pytest.approx(HOSPITAL.lat + 0.5405, abs=1e-3)
    assert west < HOSPITAL.lon < east and east - west == pytest.approx(1.091, abs=1e-2)

    assert result.status == "found"
    location = result.location
    assert location is not None
    assert (location.latitude, location.longitude) == (-8.2098, 114.3671)
    assert location.address.startswith("RSUD Blambangan, Jalan Letkol Istiqlah")
    assert location.raw == {
        "level": "online",
        "code": None,
        "confidence": 0.75,
        "provider": "nominatim",
        "kecamatan_code": None,
        "kecamatan_name": None,
        "osm_type": "way",
        "osm_id": 311236178,
        "class": "amenity",
        "type": "hospital",
        "place_rank": 30,
    }


def test_a_self_hosted_server_is_asked_at_its_own_address(session, fake_time):
    geocoder = nominatim(fake_time, base_url="http://geo.rsud.internal:8080/nominatim/")
    with respx.mock(assert_all_called=True) as router:
        route = router.get("http://geo.rsud.internal:8080/nominatim/search").mock(
            return_value=httpx.Response(200, json=[])
        )
        result = geocoder.geocode(session, ADDRESS, center=PHARMACY, radius_km=RADIUS_KM)
    assert route.call_count == 1
    assert result.status == "not_found"


def test_an_address_is_asked_once_and_the_second_answer_comes_from_the_cache(session, fake_time):
    geocoder = nominatim(fake_time)
    with respx.mock(assert_all_called=True) as router:
        route = router.get(SEARCH).mock(return_value=httpx.Response(200, json=[nominatim_place()]))
        first = geocoder.geocode(session, ADDRESS, center=PHARMACY, radius_km=RADIUS_KM)
        session.commit()
        # Spacing and case do not make another question.
        again = geocoder.geocode(session, f"  {ADDRESS.upper()} ", center=PHARMACY, radius_km=RADIUS_KM)

    assert route.call_count == 1
    assert again.status == "found" and again.location is not None and first.location is not None
    assert (again.location.point, again.location.raw) == (first.location.point, first.location.raw)
    [row] = cache_rows(session)
    assert row.provider == "nominatim" and len(row.query_key) == 64
    assert row.result is not None and row.result["raw"]["confidence"] == 0.75


def test_nothing_found_is_cached_too_but_another_service_area_asks_again(session, fake_time):
    geocoder = nominatim(fake_time)
    with respx.mock(assert_all_called=True) as router:
        route = router.get(SEARCH).mock(return_value=httpx.Response(200, json=[]))
        for _ in range(2):
            assert geocoder.geocode(session, "Dsn. Entah", center=PHARMACY, radius_km=RADIUS_KM).status == (
                "not_found"
            )
        assert route.call_count == 1
        geocoder.geocode(session, "Dsn. Entah", center=PHARMACY, radius_km=20.0)
        assert route.call_count == 2
    assert [row.result for row in cache_rows(session)] == [None, None]


def test_an_answer_older_than_the_cache_period_is_asked_again(session, fake_time):
    geocoder = nominatim(fake_time, cache_days=30)
    with respx.mock(assert_all_called=True) as router:
        route = router.get(SEARCH).mock(return_value=httpx.Response(200, json=[nominatim_place()]))
        geocoder.geocode(session, ADDRESS, center=PHARMACY, radius_km=RADIUS_KM)
        [row] = cache_rows(session)
        row.created_at = utcnow() - timedelta(days=31)
        session.add(row)
        session.flush()
        geocoder.geocode(session, ADDRESS, center=PHARMACY, radius_km=RADIUS_KM)
    assert route.call_count == 2
    [row] = cache_rows(session)
    assert row.created_at > utcnow() - timedelta(minutes=1)


def test_requests_keep_the_minimum_delay_without_waiting_for_real(session, fake_time):
    geocoder = nominatim(fake_time, min_delay_seconds=1.0)
    with respx.mock(assert_all_called=True) as router:
        route = router.get(SEARCH).mock(return_value=httpx.Response(200, json=[]))
        geocoder.geocode(session, "Desa Kemiren", center=PHARMACY, radius_km=RADIUS_KM)
        fake_time.now += 0.25
        geocoder.geocode(session, "Desa Olehsari", center=PHARMACY, radius_km=RADIUS_KM)
        fake_time.now += 5.0
        geocoder.geocode(session, "Desa Tamansuruh", center=PHARMACY, radius_km=RADIUS_KM)
    assert route.call_count == 3
    assert fake_time.sleeps == [pytest.approx(0.75)]


def test_hospitals_sharing_a_server_share_one_limiter_at_the_slowest_pace():
    first = OnlineGeocoderConfig(
        provider="nominatim", user_agent=USER_AGENT, base_url="https://osm.shared.test"
    )
    second = first.model_copy(
        update={"user_agent": "rsud-genteng/2.0 (it@rsud.example)", "min_delay_seconds": 2}
    )
    limiter = service_limiter(first)
    assert service_limiter(second) is limiter
    assert service_limiter(first) is limiter and limiter.min_delay_seconds == 2
    other_server = OnlineGeocoderConfig(
        provider="nominatim", base_url="https://osm.other.test", user_agent=USER_AGENT
    )
    assert service_limiter(other_server) is not limiter


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (httpx.ConnectTimeout("timed out"), "GeocoderTimedOut"),
        (httpx.ConnectError("connection refused"), "GeocoderUnavailable"),
        (httpx.Response(500, text="Internal Server Error"), "GeocoderServiceError"),
        (httpx.Response(503, text="Service Unavailable"), "GeocoderTimedOut"),  # geopy's own mapping
        (httpx.Response(429, text="Too Many Requests"), "GeocoderRateLimited"),
        (httpx.Response(200, text="<html>maintenance</html>"), "GeocoderParseError"),
    ],
)
def test_a_failure_falls_through_uncached_and_the_next_order_asks_again(session, fake_time, failure, error):
    geocoder = nominatim(fake_time)
    with respx.mock(assert_all_called=True) as router:
        route = router.get(SEARCH).mock(side_effect=[failure, httpx.Response(200, json=[nominatim_place()])])
        failed = geocoder.geocode(session, ADDRESS, center=PHARMACY, radius_km=RADIUS_KM)
        assert (failed.status, failed.location) == ("error", None)
        assert failed.detail.startswith(f"nominatim: {error}")
        assert cache_rows(session) == []
        fake_time.now += 10
        assert geocoder.geocode(session, ADDRESS, center=PHARMACY, radius_km=RADIUS_KM).status == "found"
    assert route.call_count == 2


def test_a_place_outside_the_service_area_is_refused_with_its_distance(session, fake_time):
    jakarta = nominatim_place(lat="-6.1754", lon="106.8272", name="Monas")
    with respx.mock(assert_all_called=True) as router:
        router.get(SEARCH).mock(return_value=httpx.Response(200, json=[jakarta]))
        result = nominatim(fake_time).geocode(session, "Jl. Merdeka", center=PHARMACY, radius_km=RADIUS_KM)
    assert result.status == "out_of_area"
    assert result.location is not None and result.location.latitude == -6.1754
    assert result.detail.startswith("nominatim: 8") and result.detail.endswith(" km from the pharmacy")


def test_a_blank_address_is_not_sent(session, fake_time):
    with respx.mock(assert_all_called=False) as router:
        route = router.get(SEARCH)
        result = nominatim(fake_time).geocode(session, "  \n ", center=PHARMACY, radius_km=RADIUS_KM)
    assert result.status == "not_found" and route.call_count == 0


@pytest.mark.parametrize(
    ("place_rank", "confidence"),
    [
        (30, 0.75),
        (28, 0.75),
        (27, 0.6),
        (26, 0.6),
        (22, 0.6),
        (20, 0.55),
        (19, 0.5),
        (18, 0.3),
        (16, 0.1),
        (None, 0.1),
    ],
)
def test_confidence_follows_the_documented_extent_of_the_place_rank(place_rank, confidence):
    assert nominatim_confidence({"place_rank": place_rank, "importance": 0.99}) == confidence


def test_another_geopy_provider_is_asked_through_the_same_mechanism_with_the_configured_confidence(
    session, fake_time
):
    settings = OnlineGeocoderConfig(
        provider="photon", user_agent=USER_AGENT, base_url="https://photon.rsud.test"
    )
    geocoder = OnlineGeocoder(
        settings, limiter=ServiceLimiter(0, clock=fake_time.clock, sleep=fake_time.sleep)
    )
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [114.3501, -8.2202]},
        "properties": {"name": "Taman Blambangan", "city": "Banyuwangi", "country": "Indonesia"},
    }
    with respx.mock(assert_all_called=True) as router:
        route = router.get("https://photon.rsud.test/api").mock(
            return_value=httpx.Response(200, json={"type": "FeatureCollection", "features": [feature]})
        )
        result = geocoder.geocode(session, "Taman Blambangan", center=PHARMACY, radius_km=RADIUS_KM)
    assert route.calls.last.request.url.params["q"] == "Taman Blambangan"
    assert route.calls.last.request.headers["User-Agent"] == USER_AGENT
    assert result.status == "found" and result.location is not None
    assert (result.location.latitude, result.location.longitude) == (-8.2202, 114.3501)
    assert result.location.raw["level"] == "online"
    assert result.location.raw["confidence"] == 0.4 < GeocodingPolicy().min_confidence


def test_the_policy_defaults_to_no_online_geocoder_and_refuses_what_it_does_not_know():
    policy = GeocodingPolicy.model_validate({})
    assert (policy.steps, policy.min_confidence, policy.service_radius_km, policy.online) == (
        ("confirmed", "code", "gazetteer", "online"),
        0.5,
        60.0,
        (),
    )
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        GeocodingPolicy.model_validate({"min_confidense": 0.7})
    with pytest.raises(ValidationError, match="user_agent"):
        GeocodingPolicy.model_validate({"online": [{"provider": "nominatim"}]})
    with pytest.raises(ValidationError, match="at most once"):
        GeocodingPolicy.model_validate({"steps": ["code", "code"]})
    with pytest.raises(ValidationError, match="steps"):
        GeocodingPolicy.model_validate({"steps": ["ktp"]})
