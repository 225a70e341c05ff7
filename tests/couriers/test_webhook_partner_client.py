"""Local-partner adapter, our side talking: the exact signed messages we send and what we make of the answers."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import respx
from pydantic import SecretStr, ValidationError
from standardwebhooks import Webhook

import couriers.gosend
import couriers.webhook
from couriers.base import CourierError, CourierStatus, DeliveryRequest, OutsideServiceArea, Place
from couriers.webhook import PLUGIN, WebhookPartnerAdapter

PARTNER_URL = "https://koperasi-ojek.example/gancang/jobs"
STATUS_URL = "https://koperasi-ojek.example/gancang/jobs/{job_id}"
SIGNING_SECRET = "whsec_" + base64.b64encode(b"gancang-to-koperasi-signing-key!").decode()
JOB_ID = "GCG12A1-abc123"
JOB_SCHEMA = json.loads(
    (Path(couriers.webhook.__file__).parent / "job.schema.json").read_text(encoding="utf-8")
)
JOB_VALIDATOR = jsonschema.Draft202012Validator(
    JOB_SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
)
SETTINGS: dict[str, Any] = {
    "url": PARTNER_URL,
    "signing_secret": SIGNING_SECRET,
    "base_fee_idr": 8000,
    "per_km_idr": 2500,
    "service_areas": [{"name": "Banyuwangi kota", "lat": -8.2192, "lon": 114.3691, "radius_km": 15}],
    "max_distance_km": 12,
}
# A constructed partner answer to a status lookup: the latest status message, as in a webhook.
ACCEPTED = {
    "type": "job.accepted",
    "timestamp": "2026-11-29T15:02:00+07:00",
    "data": {
        "job_id": JOB_ID,
        "partner_job_id": "KOP-2026-0042",
        "driver": {"name": "Pak Slamet", "phone": "+6281234500001", "vehicle_plate": "P 4321 AB"},
        "tracking_url": "https://koperasi-ojek.example/lacak/KOP-2026-0042",
    },
}


@pytest.fixture
def partner_mock() -> Iterator[respx.MockRouter]:
    """A respx router used as the injected transport (no global patching); every route must be called."""
    with respx.mock(assert_all_called=True, using=None) as router:
        yield router


@pytest.fixture
def make_adapter(partner_mock) -> Iterator[Callable[..., WebhookPartnerAdapter]]:
    built: list[WebhookPartnerAdapter] = []

    def make(**overrides: Any) -> WebhookPartnerAdapter:
        settings = PLUGIN.settings_model.model_validate({**SETTINGS, **overrides})
        adapter = PLUGIN.build(settings, httpx.MockTransport(partner_mock.handler))
        assert isinstance(adapter, WebhookPartnerAdapter)
        built.append(adapter)
        return adapter

    yield make
    for adapter in built:
        adapter.close()


@pytest.fixture
def partner_request() -> DeliveryRequest:
    """An order from RSUD Blambangan to a patient about 5 km away, inside the partner's area."""
    return DeliveryRequest(
        reference=JOB_ID,
        origin=Place(
            name="RSUD Blambangan",
            phone="0333-421118",
            address="Jl. Letkol Istiqlah No. 49, Banyuwangi",
            lat=-8.2175,
            lon=114.3645,
            note="Ambil di loket farmasi rawat jalan",
            contact_name="Instalasi Farmasi",
        ),
        destination=Place(
            name="Sri Wahyuni",
            phone="+62 812-3456-7890",
            address="Jl. Ahmad Yani 12, RT 2 RW 3",
            lat=-8.25,
            lon=114.33,
            note="Hubungi pasien sebelum tiba",
        ),
        item_description="Paket obat tertutup dari instalasi farmasi",
        cold_chain=True,
    )


def signed_payload(request: httpx.Request, secret: str = SIGNING_SECRET) -> Any:
    """What a partner using the reference library makes of our request (raises if the signature is wrong)."""
    return Webhook(secret).verify(request.content, dict(request.headers))


def test_quote_is_priced_from_the_tariff_without_a_call(make_adapter, partner_mock, partner_request):
    quote = make_adapter().quote(partner_request)

    # 8 000 flat + 2 500 for each of 6 started kilometres (5.23 km).
    assert (quote.courier, quote.service, quote.price_idr, quote.serviceable) == (
        "webhook",
        "instant",
        23000,
        True,
    )
    assert quote.distance_km == pytest.approx(5.232, abs=0.001)
    assert partner_mock.calls.call_count == 0


def test_book_sends_a_signed_job_offered_that_matches_the_schema(make_adapter, partner_mock, partner_request):
    route = partner_mock.post(PARTNER_URL).respond(202, json={"partner_job_id": "KOP-2026-0042"})

    booking = make_adapter().book(partner_request)

    request = route.calls.last.request
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == f"msg_{JOB_ID}_offered"
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 5
    payload = signed_payload(request)
    JOB_VALIDATOR.validate(payload)
    assert payload["type"] == "job.offered"
    assert payload["data"] == {
        "job_id": JOB_ID,
        "service": "instant",
        "cold_chain": True,
        "pickup": {
            "name": "RSUD Blambangan",
            "contact_name": "Instalasi Farmasi",
            "phone": "+62333421118",
            "address": "Jl. Letkol Istiqlah No. 49, Banyuwangi",
            "lat": -8.2175,
            "lon": 114.3645,
            "note": "Ambil di loket farmasi rawat jalan",
        },
        "dropoff": {
            "name": "Sri Wahyuni",
            "contact_name": "Sri Wahyuni",
            "phone": "+6281234567890",
            "address": "Jl. Ahmad Yani 12, RT 2 RW 3",
            "lat": -8.25,
            "lon": 114.33,
            "note": "Hubungi pasien sebelum tiba",
        },
        "item_description": "Paket obat tertutup dari instalasi farmasi",
        "weight_kg": 1.0,
        "distance_km": 5.232,
        "fee_idr": 23000,
    }
    assert b"pin" not in request.content.lower()
    assert booking.courier == "webhook"
    assert booking.provider_order_id == booking.reference == JOB_ID
    assert booking.status is CourierStatus.REQUESTED
    assert booking.raw == {"partner_job_id": "KOP-2026-0042"}


def test_a_retried_offer_keeps_its_webhook_id_so_the_partner_drops_the_repeat(
    make_adapter, partner_mock, partner_request
):
    route = partner_mock.post(PARTNER_URL).mock(
        side_effect=[httpx.Response(503, text="busy"), httpx.Response(200, text="OK")]
    )
    adapter = make_adapter()

    with pytest.raises(CourierError) as refused:
        adapter.book(partner_request)
    booking = adapter.book(partner_request)

    assert refused.value.retryable is True
    assert refused.value.status_code == 503
    first, second = (call.request for call in route.calls)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == f"msg_{JOB_ID}_offered"
    assert signed_payload(first)["data"] == signed_payload(second)["data"]
    # A 2xx without JSON still means the partner has the job.
    assert booking.provider_order_id == JOB_ID
    assert booking.raw == {}


def test_outside_the_partners_area_is_refused_before_any_call(make_adapter, partner_mock, delivery_request):
    adapter = make_adapter()

    # The shared GoSend example runs in Jakarta, far from a Banyuwangi partner.
    with pytest.raises(OutsideServiceArea, match="webhook does not serve the pickup point"):
        adapter.quote(delivery_request)
    with pytest.raises(OutsideServiceArea):
        adapter.book(delivery_request)
    assert partner_mock.calls.call_count == 0


def test_a_trip_beyond_the_partners_reach_is_refused_before_any_call(
    make_adapter, partner_mock, partner_request
):
    adapter = make_adapter(max_distance_km=5)

    with pytest.raises(OutsideServiceArea, match=r"a 5\.2 km trip \(limit 5 km\)"):
        adapter.book(partner_request)
    assert partner_mock.calls.call_count == 0


def test_a_service_the_partner_does_not_offer_is_refused(make_adapter, partner_mock, partner_request):
    same_day = DeliveryRequest(**{**partner_request.__dict__, "service": "same_day"})

    with pytest.raises(CourierError, match="does not offer service 'same_day'") as refused:
        make_adapter().quote(same_day)

    assert refused.value.retryable is False
    assert make_adapter(same_day=True).quote(same_day).service == "same_day"
    assert partner_mock.calls.call_count == 0


def test_an_undialable_phone_is_refused_by_field_without_echoing_it(
    make_adapter, partner_mock, partner_request
):
    bad = DeliveryRequest(
        **{
            **partner_request.__dict__,
            "destination": Place(**{**partner_request.destination.__dict__, "phone": "12"}),
        }
    )

    with pytest.raises(CourierError, match=r"dropoff\.phone") as refused:
        make_adapter().book(bad)

    assert "'12'" not in str(refused.value)
    assert refused.value.retryable is False
    assert partner_mock.calls.call_count == 0


def test_cancel_sends_a_signed_job_cancelled(make_adapter, partner_mock):
    route = partner_mock.post(PARTNER_URL).respond(204)

    make_adapter().cancel(JOB_ID)

    request = route.calls.last.request
    assert request.headers["webhook-id"] == f"msg_{JOB_ID}_cancelled"
    payload = signed_payload(request)
    JOB_VALIDATOR.validate(payload)
    assert payload["type"] == "job.cancelled"
    assert payload["data"] == {"job_id": JOB_ID}


@pytest.mark.parametrize("status_code", [409, 410])
def test_cancel_after_pickup_is_a_final_refusal_with_the_partners_reason(
    make_adapter, partner_mock, status_code
):
    partner_mock.post(PARTNER_URL).respond(status_code, json={"message": "Paket sudah diambil driver"})

    with pytest.raises(CourierError) as refused:
        make_adapter().cancel(JOB_ID)

    assert refused.value.messages == ["Paket sudah diambil driver"]
    assert refused.value.status_code == status_code
    assert refused.value.retryable is False


@pytest.mark.parametrize(
    ("response", "retryable", "retry_after", "messages"),
    [
        (
            httpx.Response(429, headers={"Retry-After": "30"}),
            True,
            30.0,
            ["partner answered HTTP 429 to job.offered"],
        ),
        (
            httpx.Response(502, text="<html><body>Bad   Gateway</body></html>"),
            True,
            None,
            ["<html><body>Bad Gateway</body></html>"],
        ),
        (httpx.Response(500, json={"error": "database down"}), True, None, ["database down"]),
        (
            httpx.Response(422, json={"message": "koordinat di luar wilayah"}),
            False,
            None,
            ["koordinat di luar wilayah"],
        ),
        (
            httpx.Response(301, headers={"Location": "https://elsewhere.example/"}),
            False,
            None,
            ["redirects are not followed; configure the partner's final URL"],
        ),
    ],
    ids=["429-retry-after", "502-html", "500-json", "422-refusal", "301-redirect"],
)
def test_book_error_answers(
    make_adapter, partner_mock, partner_request, response, retryable, retry_after, messages
):
    partner_mock.post(PARTNER_URL).mock(return_value=response)

    with pytest.raises(CourierError) as refused:
        make_adapter().book(partner_request)

    assert refused.value.status_code == response.status_code
    assert refused.value.retryable is retryable
    assert refused.value.retry_after == retry_after
    assert refused.value.messages == messages


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (httpx.ReadTimeout("slow"), "partner timed out: ReadTimeout"),
        (httpx.ConnectError("refused"), "partner unreachable: ConnectError"),
    ],
)
def test_transport_failures_are_retryable(make_adapter, partner_mock, partner_request, error, message):
    partner_mock.post(PARTNER_URL).mock(side_effect=error)

    with pytest.raises(CourierError) as refused:
        make_adapter().book(partner_request)

    assert refused.value.messages == [message]
    assert refused.value.retryable is True
    assert refused.value.status_code is None


def test_status_without_a_status_url_says_so_without_a_call(make_adapter, partner_mock):
    adapter = make_adapter()

    with pytest.raises(CourierError, match="no status URL") as refused:
        adapter.status(JOB_ID)

    assert refused.value.retryable is False
    # Re-booking is idempotent, so "not known" is the safe answer to a lookup.
    assert adapter.find_by_reference(JOB_ID) is None
    assert partner_mock.calls.call_count == 0


def test_status_lookup_is_a_signed_get_and_parses_the_latest_message(make_adapter, partner_mock):
    route = partner_mock.get(f"https://koperasi-ojek.example/gancang/jobs/{JOB_ID}").respond(
        200, json=ACCEPTED
    )

    event = make_adapter(status_url=STATUS_URL).status(JOB_ID)

    request = route.calls.last.request
    assert request.headers["accept"] == "application/json"
    assert request.headers["webhook-id"].startswith("msg_status_")
    assert request.content == b""
    Webhook(SIGNING_SECRET).verify(b"", dict(request.headers), json_parse=False)
    assert event.status is CourierStatus.DRIVER_ASSIGNED
    assert event.provider_order_id == event.reference == JOB_ID
    assert (event.driver_name, event.driver_phone, event.vehicle_plate) == (
        "Pak Slamet",
        "+6281234500001",
        "P 4321 AB",
    )
    assert event.tracking_url == "https://koperasi-ojek.example/lacak/KOP-2026-0042"
    assert event.occurred_at.isoformat() == "2026-11-29T08:02:00+00:00"
    assert event.event_id == f"{JOB_ID}:job.accepted:2026-11-29T15:02:00+07:00"


def test_find_by_reference_uses_the_status_lookup(make_adapter, partner_mock):
    url = f"https://koperasi-ojek.example/gancang/jobs/{JOB_ID}"
    partner_mock.get(url).mock(side_effect=[httpx.Response(404), httpx.Response(200, json=ACCEPTED)])
    adapter = make_adapter(status_url=STATUS_URL)

    assert adapter.find_by_reference(JOB_ID) is None
    found = adapter.find_by_reference(JOB_ID)

    assert found is not None
    assert found.provider_order_id == JOB_ID


@pytest.mark.parametrize(
    ("response", "status_code", "retryable", "message"),
    [
        (httpx.Response(404), 404, False, f"the partner does not know job '{JOB_ID}'"),
        (httpx.Response(503, text="maintenance"), 503, True, "maintenance"),
        (httpx.Response(200, text="OK"), None, False, "partner status response is not a status message"),
        (
            httpx.Response(200, json={**ACCEPTED, "data": {**ACCEPTED["data"], "job_id": "GCG9A1-000000"}}),
            None,
            False,
            "partner answered the status of job 'GCG9A1-000000'",
        ),
    ],
    ids=["unknown-job", "503", "not-json", "another-job"],
)
def test_status_error_answers(make_adapter, partner_mock, response, status_code, retryable, message):
    partner_mock.get(f"https://koperasi-ojek.example/gancang/jobs/{JOB_ID}").mock(return_value=response)

    with pytest.raises(CourierError) as refused:
        make_adapter(status_url=STATUS_URL).status(JOB_ID)

    assert refused.value.status_code == status_code
    assert refused.value.retryable is retryable
    assert message in str(refused.value)


def test_capabilities_follow_the_partners_settings(make_adapter):
    capabilities = make_adapter(cold_chain=True).capabilities

    assert capabilities.handover_pin is True
    assert capabilities.cold_chain is True
    assert capabilities.max_distance_km == 12
    assert [area.name for area in capabilities.service_areas] == ["Banyuwangi kota"]
    assert capabilities.serves(-8.25, 114.33) and not capabilities.serves(-6.2, 106.8)


@pytest.mark.parametrize(
    ("override", "problem"),
    [
        ({"url": "http://koperasi-ojek.example/jobs"}, "partner URLs must use https"),
        ({"status_url": "https://koperasi-ojek.example/jobs/status"}, "status_url must contain {job_id}"),
        ({"signing_secret": "plain-secret-value"}, "webhook secrets start with whsec_"),
        ({"webhook_secret": "whsec_"}, "not valid non-empty base64"),
        ({"service_areas": []}, "service_areas"),
        ({"service_areas": [{"name": "x", "lat": 0, "lon": 0, "radius_km": 0}]}, "positive radius_km"),
    ],
)
def test_settings_refuse_bad_values_without_echoing_them(override, problem):
    with pytest.raises(ValidationError, match=problem.replace("{", r"\{").replace("}", r"\}")) as refused:
        PLUGIN.settings_model.model_validate({**SETTINGS, **override})

    assert "plain-secret-value" not in str(refused.value)


def test_build_refuses_another_couriers_settings():
    with pytest.raises(TypeError, match="WebhookPartnerSettings"):
        PLUGIN.build(couriers.gosend.PLUGIN.settings_model(client_id="x", pass_key=SecretStr("k")), None)


def test_the_signing_secret_never_appears_in_settings_output():
    settings = PLUGIN.settings_model.model_validate(SETTINGS)

    assert SIGNING_SECRET not in repr(settings)
    assert SIGNING_SECRET not in str(settings.model_dump())
