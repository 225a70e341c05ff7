"""Raw first and references by fetch: pages archived as sent before they are read; resources the search
did not include fetched by reference. First the puller against an in-memory archive, then the poller
against the real inbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import respx
from fhir_pull_payloads import (
    BASE,
    MEDICATION_ID,
    OAUTH,
    PAGE_2,
    Archive,
    banyuwangi_patient,
    bpjs_coverage,
    entry,
    inbox,
    medication,
    medication_request,
    page,
    poll,
    prescriptions,
    refusals,
    resource,
    served,
    taken,
    token_route,
)
from sqlmodel import Session

from hospital_adapter.fhir.pull import FhirPuller, FhirPullSettings, PullError

SINCE = datetime(2026, 11, 29, 9, 0, tzinfo=timezone(timedelta(hours=7)))


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=True, assert_all_mocked=True) as router:
        yield router


def make_puller(api: respx.MockRouter, sleeps: list[float]) -> FhirPuller:
    settings = FhirPullSettings(
        base_url=BASE,
        oauth_url=OAUTH,
        client_id="rsud-blambangan-client",
        client_secret="s3cr3t",
        page_size=50,
    )
    return FhirPuller(settings, transport=httpx.MockTransport(api.handler), sleep=sleeps.append)


def with_insurance(request: dict[str, Any], coverage_id: str = "cov-bpjs-1") -> dict[str, Any]:
    request["insurance"] = [{"reference": f"Coverage/{coverage_id}"}]
    return request


# -- the puller ------------------------------------------------------------------------------------------


def test_each_page_is_archived_as_sent_before_it_is_read(api: respx.MockRouter) -> None:
    first = page(
        entry(medication_request("mr-1", "RX-1"), "match"),
        entry(banyuwangi_patient(), "include"),
        entry(medication(), "include"),
        next_url=PAGE_2,
    )
    second = page(entry(medication_request("mr-2", "RX-2"), "match"))
    token_route(api)
    api.get(f"{BASE}/MedicationRequest").mock(return_value=served(first))
    api.get(BASE, params={"_getpages": "9d3c6a"}).mock(return_value=served(second))
    archive = Archive()
    requests_when_archived: list[int] = []

    def archiving(bodies: list[bytes]) -> list[int]:
        requests_when_archived.append(len(api.calls))
        return archive(bodies)

    result = make_puller(api, []).pull(SINCE, archiving)

    assert archive.bodies == [first, second]
    # Token and first search, then page 2: each page went to the archive before the next request.
    assert requests_when_archived == [2, 3]
    assert [(rx.prescription_id, page_id) for rx, page_id in result.prescriptions] == [
        ("RX-1", 1),
        ("RX-2", 2),
    ]


def test_an_unreadable_page_is_refused_with_its_reason_and_the_next_page_is_taken(
    api: respx.MockRouter,
) -> None:
    broken = json.loads(page(entry(medication_request("mr-1", "RX-1"), "match"), next_url=PAGE_2))
    del broken["entry"][0]["resource"]  # a server that lost the resource it matched
    first = json.dumps(broken).encode()
    second = page(
        entry(medication_request("mr-2", "RX-2"), "match"),
        entry(banyuwangi_patient(), "include"),
        entry(medication(), "include"),
    )
    token_route(api)
    api.get(f"{BASE}/MedicationRequest").mock(return_value=served(first))
    api.get(BASE, params={"_getpages": "9d3c6a"}).mock(return_value=served(second))
    archive = Archive()

    result = make_puller(api, []).pull(SINCE, archive)

    assert archive.bodies == [first, second]
    assert result.errors == [(1, "error required: Bundle.entry[0] has no resource")]
    assert [(rx.prescription_id, page_id) for rx, page_id in result.prescriptions] == [("RX-2", 2)]


def test_a_page_that_is_not_json_stops_the_pull_and_names_the_archived_page(api: respx.MockRouter) -> None:
    gateway_page = b"<html><body>502 Bad Gateway</body></html>"
    token_route(api)
    api.get(f"{BASE}/MedicationRequest").mock(
        return_value=served(page(entry(medication_request("mr-1", "RX-1"), "match"), next_url=PAGE_2))
    )
    api.get(BASE, params={"_getpages": "9d3c6a"}).respond(
        200, content=gateway_page, headers={"Content-Type": "text/html"}
    )
    archive = Archive()

    with pytest.raises(PullError) as caught:
        make_puller(api, []).pull(SINCE, archive)

    assert archive.bodies[1] == gateway_page
    assert (caught.value.archive_id, caught.value.retryable) == (2, False)
    assert caught.value.messages == ["MedicationRequest search: response is not JSON"]


def test_patient_medication_and_coverage_not_included_are_fetched_by_reference_with_the_token(
    api: respx.MockRouter,
) -> None:
    token_route(api)
    api.get(f"{BASE}/MedicationRequest").mock(
        return_value=served(
            page(
                entry(with_insurance(medication_request("mr-1", "RX-1", "1")), "match"),
                entry(with_insurance(medication_request("mr-2", "RX-1", "2")), "match"),
            )
        )
    )
    answers = [resource(bpjs_coverage()), resource(medication()), resource(banyuwangi_patient())]
    fetched = [
        api.get(f"{BASE}/Coverage/cov-bpjs-1").mock(return_value=answers[0]),
        api.get(f"{BASE}/Medication/{MEDICATION_ID}").mock(return_value=answers[1]),
        api.get(f"{BASE}/Patient/P-BWI-0001").mock(return_value=answers[2]),
    ]
    archive = Archive()

    result = make_puller(api, []).pull(SINCE, archive)

    # Each once, though two requests name them, with the token the search used.
    assert [str(route.calls.last.request.url) for route in fetched] == [
        f"{BASE}/Coverage/cov-bpjs-1",
        f"{BASE}/Medication/{MEDICATION_ID}",
        f"{BASE}/Patient/P-BWI-0001",
    ]
    assert [(route.call_count, route.calls.last.request.headers["Authorization"]) for route in fetched] == [
        (1, "Bearer tok-1")
    ] * 3
    assert archive.bodies[1:] == [answer.content for answer in answers]  # archived raw too
    [(prescription, page_id)] = result.prescriptions
    assert page_id == 1
    assert [item.code for item in prescription.items] == ["93006500", "93006500"]
    assert prescription.patient.address.village_code == "3510181004"
    [coverage] = prescription.coverage
    assert (coverage.plan, coverage.subscriber_id) == ("Pegawai Swasta", "367400001111222")
    assert result.errors == []


def test_an_include_on_a_later_page_is_used_rather_than_fetched(api: respx.MockRouter) -> None:
    token_route(api)
    api.get(f"{BASE}/MedicationRequest").mock(
        return_value=served(page(entry(medication_request("mr-1", "RX-1"), "match"), next_url=PAGE_2))
    )
    api.get(BASE, params={"_getpages": "9d3c6a"}).mock(
        return_value=served(page(entry(banyuwangi_patient(), "include"), entry(medication(), "include")))
    )
    result = make_puller(api, []).pull(SINCE, Archive())
    assert [rx.prescription_id for rx in taken(result)] == ["RX-1"]  # no GET Patient/…: none was mocked


def test_a_404_on_a_referenced_patient_fails_only_its_prescription(api: respx.MockRouter) -> None:
    token_route(api)
    api.get(f"{BASE}/MedicationRequest").mock(
        return_value=served(
            page(
                entry(medication_request("mr-1", "RX-1", updated="2026-11-29T10:00:00+07:00"), "match"),
                entry(
                    medication_request(
                        "mr-2", "RX-2", patient_id="P-GONE", updated="2026-11-29T11:00:00+07:00"
                    ),
                    "match",
                ),
                entry(banyuwangi_patient(), "include"),
                entry(medication(), "include"),
            )
        )
    )
    gone = api.get(f"{BASE}/Patient/P-GONE").respond(
        404,
        json={"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found"}]},
    )
    sleeps: list[float] = []

    result = make_puller(api, sleeps).pull(SINCE, Archive())

    assert gone.call_count == 1 and sleeps == []  # a 404 is not asked again
    assert [rx.prescription_id for rx in taken(result)] == ["RX-1"]
    assert refusals(result) == {
        "MedicationRequest/mr-2": "error not-found: Patient/P-GONE was not found on the FHIR server (HTTP 404)"
    }
    # Gone for good: the watermark moves past it.
    assert result.watermark == datetime(2026, 11, 29, 4, 0, tzinfo=UTC)


def test_a_5xx_on_a_referenced_medication_is_retried_then_fails_only_its_prescription_and_holds_the_watermark(
    api: respx.MockRouter,
) -> None:
    other = medication_request("mr-2", "RX-2", updated="2026-11-29T11:00:00+07:00")
    other["medicationReference"] = {"reference": "Medication/kfa-other", "display": "Paracetamol 500 mg"}
    token_route(api)
    api.get(f"{BASE}/MedicationRequest").mock(
        return_value=served(
            page(
                entry(medication_request("mr-1", "RX-1", updated="2026-11-29T10:00:00+07:00"), "match"),
                entry(other, "match"),
                entry(banyuwangi_patient(), "include"),
            )
        )
    )
    failing = api.get(f"{BASE}/Medication/{MEDICATION_ID}").respond(503, text="Service Unavailable")
    api.get(f"{BASE}/Medication/kfa-other").mock(return_value=resource(medication() | {"id": "kfa-other"}))
    sleeps: list[float] = []

    result = make_puller(api, sleeps).pull(SINCE, Archive())

    assert (failing.call_count, sleeps) == (3, [1.0, 2.0])
    assert [rx.prescription_id for rx in taken(result)] == ["RX-2"]
    reason = refusals(result)["MedicationRequest/mr-1"]
    assert reason.startswith(
        f"error transient: Medication/{MEDICATION_ID} could not be fetched in 3 attempts"
    )
    assert "HTTP 503 Service Unavailable" in reason
    # Held at the request that failed, so the next pull reads it again; RX-2 is simply taken twice.
    assert result.watermark == datetime(2026, 11, 29, 3, 0, tzinfo=UTC)


def test_a_403_on_a_reference_fails_the_whole_pull(api: respx.MockRouter) -> None:
    token_route(api)
    api.get(f"{BASE}/MedicationRequest").mock(
        return_value=served(page(entry(medication_request("mr-1", "RX-1"), "match")))
    )
    api.get(f"{BASE}/Medication/{MEDICATION_ID}").respond(403, text="Forbidden")
    with pytest.raises(PullError) as caught:
        make_puller(api, []).pull(SINCE, Archive())
    # Our credentials, not the resource: every other reference would be refused too. Fetched in sorted order,
    # so the Patient is never asked for.
    assert (caught.value.status, caught.value.archive_id) == (403, None)


# -- the poller and the inbox ------------------------------------------------------------------------------


@pytest.fixture
def fhir_source(session: Session, hospital: Any) -> Any:
    from dispatch.hospitals.models import HospitalSource

    source = HospitalSource(
        hospital_id=hospital.id,
        source="fhir_pull",
        settings={"base_url": BASE, "bearer_token": "static-token"},
        watermark={"since": SINCE.isoformat()},
    )
    hospital.eligibility_policy = {"accept_all": True}
    session.add_all([source, hospital])
    session.commit()
    return source


def test_a_poll_keeps_each_page_byte_for_byte_and_links_its_prescriptions_to_it(fhir_source: Any) -> None:
    first = page(
        entry(medication_request("mr-1", "RX-1"), "match"),
        entry(banyuwangi_patient(), "include"),
        entry(medication(), "include"),
        next_url=PAGE_2,
    )
    second = page(entry(medication_request("mr-2", "RX-2"), "match"))
    with respx.mock(assert_all_called=True) as mock:
        search = mock.get(f"{BASE}/MedicationRequest").mock(return_value=served(first))
        mock.get(BASE, params={"_getpages": "9d3c6a"}).mock(return_value=served(second))
        assert poll(fhir_source) == 2

    assert search.calls.last.request.headers["Authorization"] == "Bearer static-token"
    rows = inbox()
    assert [(row.source, row.body, row.status, row.error) for row in rows] == [
        ("fhir_pull", first, "processed", None),
        ("fhir_pull", second, "processed", None),
    ]
    assert prescriptions() == {"RX-1": rows[0].id, "RX-2": rows[1].id}


def test_a_poll_quarantines_an_unreadable_page_and_takes_the_next(fhir_source: Any) -> None:
    broken = json.loads(page(entry(medication_request("mr-1", "RX-1"), "match"), next_url=PAGE_2))
    broken["type"] = "collection"
    first = json.dumps(broken).encode()
    second = page(
        entry(medication_request("mr-2", "RX-2"), "match"),
        entry(banyuwangi_patient(), "include"),
        entry(medication(), "include"),
    )
    with respx.mock(assert_all_called=True) as mock:
        mock.get(f"{BASE}/MedicationRequest").mock(return_value=served(first))
        mock.get(BASE, params={"_getpages": "9d3c6a"}).mock(return_value=served(second))
        assert poll(fhir_source) == 1

    refused, read = inbox()
    assert (refused.body, refused.status) == (first, "rejected")
    assert refused.error == "error invalid: Bundle.type is 'collection', not 'searchset'"
    assert (read.body, read.status) == (second, "processed")
    assert prescriptions() == {"RX-2": read.id}


def test_a_poll_refuses_on_its_page_only_the_prescription_whose_patient_is_gone(fhir_source: Any) -> None:
    raw = page(
        entry(medication_request("mr-1", "RX-1"), "match"),
        entry(medication_request("mr-2", "RX-2", patient_id="P-GONE"), "match"),
        entry(banyuwangi_patient(), "include"),
    )
    with respx.mock(assert_all_called=True) as mock:
        mock.get(f"{BASE}/MedicationRequest").mock(return_value=served(raw))
        fetched = mock.get(f"{BASE}/Medication/{MEDICATION_ID}").mock(return_value=resource(medication()))
        mock.get(f"{BASE}/Patient/P-GONE").respond(404)
        assert poll(fhir_source) == 1

    page_row, medication_row = inbox()
    assert (page_row.body, page_row.status) == (raw, "rejected")
    assert page_row.error == (
        "MedicationRequest/mr-2: error not-found: Patient/P-GONE was not found on the FHIR server (HTTP 404)"
    )
    assert (medication_row.body, medication_row.status) == (fetched.calls.last.response.content, "processed")
    assert prescriptions() == {"RX-1": page_row.id}


def test_a_poll_that_fails_half_way_takes_nothing_and_keeps_what_it_read_for_the_record(
    fhir_source: Any,
) -> None:
    from dispatch.core.db import new_session
    from dispatch.hospitals.models import HospitalSource

    first = page(entry(medication_request("mr-1", "RX-1", "1"), "match"), next_url=PAGE_2)
    with respx.mock(assert_all_called=True) as mock:
        mock.get(f"{BASE}/MedicationRequest").mock(return_value=served(first))
        mock.get(BASE, params={"_getpages": "9d3c6a"}).respond(503, text="Service Unavailable")
        assert poll(fhir_source) == 0

    [row] = inbox()
    assert (row.body, row.status) == (first, "ignored")
    assert row.error.startswith(
        "The poll stopped before its end (FHIR server: MedicationRequest search: HTTP 503"
    )
    assert prescriptions() == {}  # half a prescription is never taken: its other items may be on page 2
    with new_session() as db:
        stored = db.get(HospitalSource, fhir_source.id)
    assert stored.watermark == {"since": SINCE.isoformat()}
    assert "HTTP 503" in stored.last_error
