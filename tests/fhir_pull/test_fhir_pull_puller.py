from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from fhir_pull_payloads import (
    MEDICATION_ID,
    Archive,
    banyuwangi_patient,
    medication,
    medication_request,
    refusals,
    taken,
)
from pydantic import ValidationError

from hospital_adapter.fhir.pull import FhirPuller, FhirPullSettings, PullError

BASE = "https://fhir.rsud-blambangan.example/fhir-r4/v1"
OAUTH = "https://api-satusehat-stg.dto.kemkes.go.id/oauth2/v1"
WIB = timezone(timedelta(hours=7))
SINCE = datetime(2026, 11, 29, 9, 0, tzinfo=WIB)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=True, assert_all_mocked=True) as router:
        yield router


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_puller(
    api: respx.MockRouter, clock: Clock | None = None, sleeps: list[float] | None = None, **overrides: Any
) -> FhirPuller:
    settings: dict[str, Any] = {
        "base_url": BASE + "/",
        "oauth_url": OAUTH,
        "client_id": "rsud-blambangan-client",
        "client_secret": "s3cr3t-from-dto",
        "page_size": 50,
    } | overrides
    return FhirPuller(
        FhirPullSettings(**settings),
        transport=httpx.MockTransport(api.handler),
        clock=clock or Clock(),
        sleep=(sleeps if sleeps is not None else []).append,
    )


def token(value: str = "tok-1", expires_in: str | int = "14399") -> httpx.Response:
    # SATUSEHAT's token answer, abridged: expires_in is a string there.
    return httpx.Response(
        200,
        json={
            "refresh_token_expires_in": "0",
            "api_product_list": "[api-dev]",
            "organization_name": "ihs-prod-1",
            "token_type": "BearerToken",
            "issued_at": "1701661395453",
            "client_id": "rsud-blambangan-client",
            "access_token": value,
            "application_name": "rsud-blambangan",
            "expires_in": expires_in,
            "status": "approved",
        },
    )


def entry(resource: dict[str, Any], mode: str) -> dict[str, Any]:
    return {
        "fullUrl": f"{BASE}/{resource['resourceType']}/{resource['id']}",
        "resource": resource,
        "search": {"mode": mode},
    }


def searchset(*entries: dict[str, Any], next_url: str | None = None) -> httpx.Response:
    links = [{"relation": "self", "url": f"{BASE}/MedicationRequest"}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    matches = sum(1 for item in entries if item["search"]["mode"] == "match")
    return httpx.Response(
        200,
        json={
            "resourceType": "Bundle",
            "type": "searchset",
            "total": matches,
            "link": links,
            "entry": list(entries),
        },
        headers={"Content-Type": "application/fhir+json"},
    )


def page_one(next_url: str | None = None) -> httpx.Response:
    return searchset(
        entry(medication_request("mr-1", "RX-1", "1"), "match"),
        entry(banyuwangi_patient(), "include"),
        entry(medication(), "include"),
        next_url=next_url,
    )


def outcome(code: str, diagnostics: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}],
    }


def test_token_request_and_search_query_are_exact(api: respx.MockRouter) -> None:
    token_route = api.post(f"{OAUTH}/accesstoken", name="token").mock(return_value=token())
    search = api.get(f"{BASE}/MedicationRequest", name="search").mock(return_value=page_one())

    result = make_puller(api).pull(SINCE, Archive())

    sent = token_route.calls.last.request
    assert str(sent.url) == f"{OAUTH}/accesstoken?grant_type=client_credentials"
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(sent.content.decode()) == {
        "client_id": ["rsud-blambangan-client"],
        "client_secret": ["s3cr3t-from-dto"],
    }
    query = search.calls.last.request.url.params
    assert search.calls.last.request.headers["Authorization"] == "Bearer tok-1"
    assert query.get_list("_include") == ["MedicationRequest:subject", "MedicationRequest:medication"]
    assert query["_lastUpdated"] == "ge2026-11-29T02:00:00Z"
    assert (query["_count"], query["status"], query["intent"]) == (
        "50",
        "active,on-hold,cancelled,stopped,entered-in-error",
        "order",
    )
    [prescription] = taken(result)
    assert prescription.items[0].code == "93006500"  # from the _include'd KFA Medication
    assert prescription.patient.address.district_code == "351018"
    assert result.errors == []


def test_first_pull_without_since_has_no_last_updated_filter(api: respx.MockRouter) -> None:
    api.post(f"{OAUTH}/accesstoken").mock(return_value=token())
    search = api.get(f"{BASE}/MedicationRequest").mock(return_value=searchset())
    result = make_puller(api).pull(None, Archive())
    assert "_lastUpdated" not in search.calls.last.request.url.params
    assert result.prescriptions == []
    assert result.watermark is None


def test_two_pages_follow_the_next_link_and_share_one_cached_token(api: respx.MockRouter) -> None:
    next_url = f"{BASE}?_getpages=9d3c6a&_getpagesoffset=50&_count=50&_bundletype=searchset"
    token_route = api.post(f"{OAUTH}/accesstoken").mock(return_value=token())
    api.get(f"{BASE}/MedicationRequest").mock(return_value=page_one(next_url))
    second = api.get(BASE, params={"_getpages": "9d3c6a"}).mock(
        return_value=searchset(entry(medication_request("mr-2", "RX-1", "2"), "match"))
    )

    result = make_puller(api).pull(SINCE, Archive())

    assert token_route.call_count == 1
    assert str(second.calls.last.request.url) == next_url
    assert second.calls.last.request.headers["Authorization"] == "Bearer tok-1"
    # Items of one paper prescription split across pages are still one prescription.
    [prescription] = taken(result)
    assert prescription.prescription_id == "RX-1"
    assert len(prescription.items) == 2


def test_token_is_reused_across_pulls_until_expires_in_minus_margin(
    api: respx.MockRouter, clock: Clock
) -> None:
    token_route = api.post(f"{OAUTH}/accesstoken").mock(
        side_effect=[token("tok-1", "3600"), token("tok-2", 3600)]
    )
    search = api.get(f"{BASE}/MedicationRequest").mock(return_value=searchset())
    puller = make_puller(api, clock)

    puller.pull(SINCE, Archive())
    clock.now += 3500
    puller.pull(SINCE, Archive())
    assert token_route.call_count == 1
    clock.now += 50  # 3550 s: inside the 60 s margin
    puller.pull(SINCE, Archive())

    assert token_route.call_count == 2
    assert [call.request.headers["Authorization"] for call in search.calls] == [
        "Bearer tok-1",
        "Bearer tok-1",
        "Bearer tok-2",
    ]


def test_a_401_gets_one_fresh_token_and_one_retry(api: respx.MockRouter) -> None:
    token_route = api.post(f"{OAUTH}/accesstoken").mock(side_effect=[token("tok-1"), token("tok-2")])
    search = api.get(f"{BASE}/MedicationRequest").mock(
        side_effect=[httpx.Response(401, json=outcome("login", "Invalid access token")), page_one()]
    )

    result = make_puller(api).pull(SINCE, Archive())

    assert token_route.call_count == 2
    assert [call.request.headers["Authorization"] for call in search.calls] == [
        "Bearer tok-1",
        "Bearer tok-2",
    ]
    assert len(result.prescriptions) == 1


def test_a_second_401_is_a_non_retryable_error(api: respx.MockRouter) -> None:
    api.post(f"{OAUTH}/accesstoken").mock(side_effect=[token("tok-1"), token("tok-2")])
    api.get(f"{BASE}/MedicationRequest").mock(
        return_value=httpx.Response(401, json=outcome("login", "Invalid access token"))
    )
    with pytest.raises(PullError) as caught:
        make_puller(api).pull(SINCE, Archive())
    assert (caught.value.status, caught.value.retryable) == (401, False)
    assert caught.value.messages == ["error login: Invalid access token"]


def test_included_patient_is_used_and_a_missing_one_is_fetched_once(api: respx.MockRouter) -> None:
    api.post(f"{OAUTH}/accesstoken").mock(return_value=token())
    api.get(f"{BASE}/MedicationRequest").mock(
        return_value=searchset(
            entry(medication_request("mr-1", "RX-1", patient_id="P-BWI-0001"), "match"),
            entry(medication_request("mr-2", "RX-2", patient_id="P-BWI-0002"), "match"),
            entry(medication_request("mr-3", "RX-3", patient_id="P-BWI-0002"), "match"),
            entry(banyuwangi_patient("P-BWI-0001"), "include"),
        )
    )
    fetched = banyuwangi_patient("P-BWI-0002")
    fetched["name"] = [{"text": "Bambang Wicaksono"}]
    patient_route = api.get(f"{BASE}/Patient/P-BWI-0002", name="patient").mock(
        return_value=httpx.Response(200, json=fetched)
    )
    medication_route = api.get(f"{BASE}/Medication/{MEDICATION_ID}").mock(
        return_value=httpx.Response(200, json=medication())
    )

    result = make_puller(api).pull(SINCE, Archive())

    assert (patient_route.call_count, medication_route.call_count) == (1, 1)
    assert patient_route.calls.last.request.headers["Authorization"] == "Bearer tok-1"
    names = {rx.prescription_id: rx.patient.name for rx in taken(result)}
    assert names == {"RX-1": "Siti Rohmah", "RX-2": "Bambang Wicaksono", "RX-3": "Bambang Wicaksono"}
    # The Medication was not _include'd either: fetched, its KFA code is on every item.
    assert {rx.items[0].code for rx in taken(result)} == {"93006500"}


def test_bad_resources_are_reported_while_the_others_are_taken(api: respx.MockRouter) -> None:
    no_phone = banyuwangi_patient("P-BWI-0003")
    del no_phone["telecom"]
    not_an_order = medication_request("mr-4", "RX-4")
    not_an_order["intent"] = "proposal"
    api.post(f"{OAUTH}/accesstoken").mock(return_value=token())
    api.get(f"{BASE}/MedicationRequest").mock(
        return_value=searchset(
            entry(medication_request("mr-1", "RX-1"), "match"),
            entry(medication_request("mr-2", "RX-2", patient_id="P-BWI-0003"), "match"),
            entry(medication_request("mr-3", "RX-3", patient_id="P-GONE"), "match"),
            entry(not_an_order, "match"),
            entry(banyuwangi_patient(), "include"),
            entry(no_phone, "include"),
            entry(medication(), "include"),
            {
                "resource": outcome("informational", "Search took 12 ms") | {"id": "oo"},
                "search": {"mode": "outcome"},
            },
        )
    )
    api.get(f"{BASE}/Patient/P-GONE").mock(
        return_value=httpx.Response(404, json=outcome("not-found", "gone"))
    )

    result = make_puller(api).pull(SINCE, Archive())

    assert [rx.prescription_id for rx in taken(result)] == ["RX-1"]
    errors = refusals(result)
    assert set(errors) == {"MedicationRequest/mr-2", "MedicationRequest/mr-3", "MedicationRequest/mr-4"}
    assert "no phone" in errors["MedicationRequest/mr-2"]
    assert "Patient/P-GONE was not found" in errors["MedicationRequest/mr-3"]
    assert "proposal" in errors["MedicationRequest/mr-4"]


def test_watermark_is_the_newest_medication_request_last_updated(api: respx.MockRouter) -> None:
    newer_patient = banyuwangi_patient()
    newer_patient["meta"]["lastUpdated"] = "2026-11-30T00:00:00Z"  # includes do not move the watermark
    api.post(f"{OAUTH}/accesstoken").mock(return_value=token())
    api.get(f"{BASE}/MedicationRequest").mock(
        return_value=searchset(
            entry(medication_request("mr-1", "RX-1", updated="2026-11-29T10:15:00+07:00"), "match"),
            entry(medication_request("mr-2", "RX-2", updated="2026-11-29T03:30:00.123Z"), "match"),
            entry(newer_patient, "include"),
            entry(medication(), "include"),
        )
    )
    result = make_puller(api).pull(SINCE, Archive())
    assert result.watermark == datetime(2026, 11, 29, 3, 30, 0, 123000, tzinfo=UTC)


def test_watermark_stays_at_since_when_nothing_changed(api: respx.MockRouter) -> None:
    api.post(f"{OAUTH}/accesstoken").mock(return_value=token())
    api.get(f"{BASE}/MedicationRequest").mock(return_value=searchset())
    assert make_puller(api).pull(SINCE, Archive()).watermark == SINCE


def test_503_text_plain_is_retryable(api: respx.MockRouter) -> None:
    api.post(f"{OAUTH}/accesstoken").mock(return_value=token())
    api.get(f"{BASE}/MedicationRequest").mock(
        return_value=httpx.Response(503, text="Gateway Timeout", headers={"Content-Type": "text/plain"})
    )
    with pytest.raises(PullError) as caught:
        make_puller(api).pull(SINCE, Archive())
    assert (caught.value.status, caught.value.retryable) == (503, True)
    assert "Gateway Timeout" in caught.value.messages[0]


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("timed out"), httpx.ConnectError("refused"), httpx.Response(429, text="slow down")],
)
def test_timeouts_transport_errors_and_429_are_retryable(api: respx.MockRouter, failure: Any) -> None:
    api.post(f"{OAUTH}/accesstoken").mock(return_value=token())
    route = api.get(f"{BASE}/MedicationRequest")
    if isinstance(failure, httpx.Response):
        route.mock(return_value=failure)
    else:
        route.mock(side_effect=failure)
    with pytest.raises(PullError) as caught:
        make_puller(api).pull(SINCE, Archive())
    assert caught.value.retryable


def test_operation_outcome_400_is_not_retryable(api: respx.MockRouter) -> None:
    api.post(f"{OAUTH}/accesstoken").mock(return_value=token())
    api.get(f"{BASE}/MedicationRequest").mock(
        return_value=httpx.Response(
            400,
            json=outcome(
                "invalid", 'Unknown search parameter "_include" for resource type "MedicationRequest"'
            ),
            headers={"Content-Type": "application/fhir+json"},
        )
    )
    with pytest.raises(PullError) as caught:
        make_puller(api).pull(SINCE, Archive())
    assert (caught.value.status, caught.value.retryable) == (400, False)
    assert caught.value.messages == [
        'error invalid: Unknown search parameter "_include" for resource type "MedicationRequest"'
    ]


def test_rejected_credentials_at_the_token_endpoint_are_not_retryable(api: respx.MockRouter) -> None:
    api.post(f"{OAUTH}/accesstoken").mock(
        return_value=httpx.Response(401, json=outcome("security", "Invalid client credentials"))
    )
    with pytest.raises(PullError) as caught:
        make_puller(api).pull(SINCE, Archive())
    assert (caught.value.status, caught.value.retryable) == (401, False)


def test_static_bearer_token_without_oauth(api: respx.MockRouter) -> None:
    search = api.get(f"{BASE}/MedicationRequest").mock(return_value=page_one())
    puller = make_puller(
        api, oauth_url=None, client_id=None, client_secret=None, bearer_token="hospital-issued"
    )
    puller.pull(SINCE, Archive())
    assert search.calls.last.request.headers["Authorization"] == "Bearer hospital-issued"


def test_next_link_to_another_host_is_refused(api: respx.MockRouter) -> None:
    api.post(f"{OAUTH}/accesstoken").mock(return_value=token())
    api.get(f"{BASE}/MedicationRequest").mock(return_value=page_one("https://evil.example/fhir?page=2"))
    with pytest.raises(PullError) as caught:
        make_puller(api).pull(SINCE, Archive())
    assert not caught.value.retryable
    assert "leaves" in caught.value.messages[0]


def test_naive_since_and_incomplete_oauth_settings_are_refused(api: respx.MockRouter) -> None:
    with pytest.raises(ValidationError):
        FhirPullSettings(base_url=BASE, oauth_url=OAUTH, client_id="x")
    with pytest.raises(ValueError, match="timezone-aware"):
        make_puller(api).pull(datetime(2026, 11, 29, 9, 0), Archive())


def test_a_resource_updated_while_paging_is_taken_once_in_its_newer_version(api: respx.MockRouter) -> None:
    newer = medication_request("mr-1", "RX-1", updated="2026-11-29T10:30:00+07:00")
    newer["dosageInstruction"][0]["patientInstruction"] = "2 tablet sehari"
    next_url = f"{BASE}/MedicationRequest?_page_token=p2"
    api.post(f"{OAUTH}/accesstoken").mock(return_value=token())
    api.get(f"{BASE}/MedicationRequest", params={"_page_token": "p2"}).mock(
        return_value=searchset(entry(newer, "match"))
    )
    api.get(f"{BASE}/MedicationRequest").mock(return_value=page_one(next_url))

    [prescription] = taken(make_puller(api).pull(SINCE, Archive()))

    assert [item.instructions for item in prescription.items] == ["2 tablet sehari"]
