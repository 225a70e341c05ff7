"""Re-processing a quarantined FHIR pull page through the API, after the fix its refusal called for.

The real poller quarantines the pages of a prescription whose Patient the hospital's server did not have; once
the hospital has created it, a pharmacist re-processes a page, and the server is asked again for what that page
named as it is now, the prescription's items on other pages included.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from fhir_pull_payloads import (
    BASE,
    MEDICATION_ID,
    OAUTH,
    PAGE_2,
    banyuwangi_patient,
    entry,
    inbox,
    medication,
    medication_request,
    page,
    poll,
    prescriptions,
    resource,
    served,
    token_route,
)
from sqlmodel import Session, select

SINCE = datetime(2026, 11, 29, 9, 0, tzinfo=timezone(timedelta(hours=7)))
NOT_FOUND = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found"}]}
GONE = "error not-found: Patient/P-GONE was not found on the FHIR server (HTTP 404)"
STATUSES = "active,on-hold,cancelled,stopped,entered-in-error"

# RX-1 on page 1; RX-2, for a patient the server lost, split over pages 1 and 2; RX-9, another prescription of
# that patient, appears only when the server is asked for all of hers.
RX_1 = medication_request("mr-1", "RX-1")
RX_2 = [
    medication_request("mr-2", "RX-2", "1", patient_id="P-GONE"),
    medication_request("mr-3", "RX-2", "2", patient_id="P-GONE"),
]
RX_9 = medication_request("mr-9", "RX-9", patient_id="P-GONE")
RX_9["medicationReference"] = {"reference": "Medication/kfa-other", "display": "Paracetamol 500 mg"}


class FhirServer:
    """The hospital's server after the poll: MedicationRequest searched by ``_id`` or ``subject``, and reads.

    Like some servers it ignores ``_include``, so every Patient and Medication is fetched by reference.
    """

    def __init__(self, *resources: dict[str, Any]) -> None:
        self.resources = {f"{body['resourceType']}/{body['id']}": body for body in resources}

    def route(self, mock: respx.MockRouter) -> None:
        mock.get(f"{BASE}/MedicationRequest").mock(side_effect=self.search)
        mock.get(url__regex=rf"^{BASE}/(Patient|Medication)/[^/?]+$").mock(side_effect=self.read)

    def search(self, request: httpx.Request) -> httpx.Response:
        ids = request.url.params.get("_id", "").split(",")
        subjects = request.url.params.get("subject", "").split(",")
        found = [
            body
            for key, body in self.resources.items()
            if key.startswith("MedicationRequest/")
            and (body["id"] in ids or body["subject"]["reference"] in subjects)
        ]
        return served(page(*(entry(body, "match") for body in found)))

    def read(self, request: httpx.Request) -> httpx.Response:
        body = self.resources.get(request.url.path.removeprefix(httpx.URL(BASE).path + "/"))
        return resource(body) if body is not None else httpx.Response(404, json=NOT_FOUND)


def fixed(*, patient_created: bool = True) -> FhirServer:
    patients = [banyuwangi_patient(), banyuwangi_patient("P-GONE")][: 2 if patient_created else 1]
    return FhirServer(RX_1, *RX_2, RX_9, medication(), *patients)


def search(**criteria: str) -> list[tuple[str, str]]:
    """The query of a re-read search: the source's search parameters, the includes, and its criteria."""
    return sorted(
        [
            ("_count", "100"),
            ("_include", "MedicationRequest:medication"),
            ("_include", "MedicationRequest:subject"),
            ("intent", "order"),
            ("status", STATUSES),
            *criteria.items(),
        ]
    )


def sent(calls: list[respx.models.Call]) -> list[tuple[str, str, list[tuple[str, str]], str | None]]:
    """Each request: method, URL without its query, the query, the Authorization header."""
    return [
        (
            call.request.method,
            str(call.request.url.copy_with(query=None)),
            sorted(call.request.url.params.multi_items()),
            call.request.headers.get("Authorization"),
        )
        for call in calls
    ]


def items(prescription_number: str) -> list[str | None]:
    from dispatch.core.db import new_session
    from dispatch.orders.models import Prescription, PrescriptionItem

    with new_session() as db:
        query = select(PrescriptionItem.code).join(Prescription)
        return list(db.exec(query.where(Prescription.prescription_number == prescription_number)).all())


def orders() -> dict[str, int | None]:
    from dispatch.core.db import new_session
    from dispatch.orders.models import Order, Prescription

    with new_session() as db:
        query = select(Prescription.prescription_number, Order.id).join(Order)
        return dict(db.exec(query).all())


@pytest.fixture
def fhir_source(session: Session, hospital: Any) -> Any:
    from dispatch.hospitals.models import HospitalSource

    source = HospitalSource(
        hospital_id=hospital.id,
        source="fhir_pull",
        settings={
            "base_url": BASE,
            "oauth_url": OAUTH,
            "client_id": "rsud-blambangan-client",
            "client_secret": "s3cr3t",
        },
        watermark={"since": SINCE.isoformat()},
    )
    hospital.eligibility_policy = {"accept_all": True}
    session.add_all([source, hospital])
    session.commit()
    return source


@pytest.fixture
def quarantined(fhir_source: Any) -> tuple[int, int]:
    """The poll takes RX-1 and quarantines both pages of RX-2: its Patient answers 404. Their inbox ids."""
    first = page(
        entry(RX_1, "match"),
        entry(RX_2[0], "match"),
        entry(banyuwangi_patient(), "include"),
        entry(medication(), "include"),
        next_url=PAGE_2,
    )
    with respx.mock(assert_all_called=True, assert_all_mocked=True) as mock:
        token_route(mock)
        mock.get(f"{BASE}/MedicationRequest").mock(return_value=served(first))
        mock.get(BASE, params={"_getpages": "9d3c6a"}).mock(
            return_value=served(page(entry(RX_2[1], "match")))
        )
        mock.get(f"{BASE}/Patient/P-GONE").respond(404, json=NOT_FOUND)
        assert poll(fhir_source) == 1
    page_1, page_2 = inbox()
    assert [(row.status, row.error) for row in (page_1, page_2)] == [
        ("rejected", f"MedicationRequest/mr-2: {GONE}"),
        ("rejected", f"MedicationRequest/mr-3: {GONE}"),
    ]
    assert prescriptions() == {"RX-1": page_1.id}
    return page_1.id, page_2.id


def reprocess(client: TestClient, token: str, inbox_id: int) -> httpx.Response:
    return client.post(f"/api/v1/inbox/{inbox_id}/reprocess", headers={"Authorization": f"Bearer {token}"})


def test_after_the_fix_a_page_is_read_again_from_the_server_and_its_split_prescription_taken_whole(
    client: TestClient, pharmacist_token: str, quarantined: tuple[int, int]
) -> None:
    page_1, page_2 = quarantined
    rx_1_order = orders()["RX-1"]

    with respx.mock(assert_all_called=True, assert_all_mocked=True) as mock:
        token_route(mock)
        fixed().route(mock)
        answer = reprocess(client, pharmacist_token, page_1)
        calls = list(mock.calls)  # the router forgets them when the block ends

    assert answer.status_code == 200, answer.text
    token = "Bearer tok-1"
    assert sent(calls) == [
        ("POST", f"{OAUTH}/accesstoken", [("grant_type", "client_credentials")], None),
        # What the page named, as it is now; then all of its patients' requests, for RX-2's item on page 2.
        ("GET", f"{BASE}/MedicationRequest", search(_id="mr-1,mr-2"), token),
        ("GET", f"{BASE}/MedicationRequest", search(subject="Patient/P-BWI-0001,Patient/P-GONE"), token),
        # References of RX-1 and RX-2 only: RX-9's Medication/kfa-other is never asked for.
        ("GET", f"{BASE}/Medication/{MEDICATION_ID}", [], token),
        ("GET", f"{BASE}/Patient/P-BWI-0001", [], token),
        ("GET", f"{BASE}/Patient/P-GONE", [], token),
    ]
    taken = orders()
    assert answer.json() == {
        "inbox_id": page_1,
        "orders": [
            {"prescription": "RX-1", "order_id": rx_1_order, "created": False},
            {"prescription": "RX-2", "order_id": taken["RX-2"], "created": True},
        ],
    }
    assert set(taken) == {"RX-1", "RX-2"}  # not RX-9: the page did not name it
    assert items("RX-2") == ["93006500", "93006500"]
    old_1, old_2, *fresh = inbox()
    # Every answer archived byte for byte before it was read, and settled.
    assert [(row.source, row.body, row.status, row.error) for row in fresh] == [
        ("fhir_pull", call.response.content, "processed", None) for call in calls[1:]
    ]
    # RX-2 comes from the second search's page, which held the newest copy of its requests.
    assert prescriptions() == {"RX-1": page_1, "RX-2": fresh[1].id}
    assert (old_1.status, old_1.error, old_1.processed_at is not None) == ("processed", None, True)
    assert (old_2.status, old_2.error) == ("rejected", f"MedicationRequest/mr-3: {GONE}")

    # Page 2 names the other half of RX-2: re-processing it finds the whole prescription already received.
    with respx.mock(assert_all_called=True, assert_all_mocked=True) as mock:
        token_route(mock)
        fixed().route(mock)
        again = reprocess(client, pharmacist_token, page_2)
        calls = list(mock.calls)

    assert again.status_code == 200, again.text
    assert [query for _method, _url, query, _token in sent(calls)[1:3]] == [
        search(_id="mr-3"),
        search(subject="Patient/P-GONE"),
    ]
    assert again.json()["orders"] == [{"prescription": "RX-2", "order_id": taken["RX-2"], "created": False}]
    assert items("RX-2") == ["93006500", "93006500"]
    assert [row.status for row in inbox()[:2]] == ["processed", "processed"]


def test_a_page_still_refused_stays_in_quarantine_with_the_reasons_of_now_and_what_could_be_taken(
    client: TestClient, pharmacist_token: str, quarantined: tuple[int, int]
) -> None:
    page_1, _page_2 = quarantined

    with respx.mock(assert_all_called=True, assert_all_mocked=True) as mock:
        token_route(mock)
        fixed(patient_created=False).route(mock)
        answer = reprocess(client, pharmacist_token, page_1)
        served_bodies = [call.response.content for call in mock.calls if call.response.status_code == 200]

    reasons = f"MedicationRequest/mr-2: {GONE}; MedicationRequest/mr-3: {GONE}"
    assert answer.status_code == 422
    assert answer.json() == {
        "type": "about:blank",
        "title": "Message still refused",
        "status": 422,
        "detail": reasons,
        "orders": [{"prescription": "RX-1", "order_id": orders()["RX-1"], "created": False}],
    }
    old_1, _old_2, *fresh = inbox()
    assert (old_1.status, old_1.error) == ("rejected", reasons)
    # The fresh rows add nothing to the quarantine: the page staff re-process holds the reasons.
    assert [(row.status, row.error) for row in fresh] == [
        ("processed", None),
        ("ignored", f"Read again to re-process message {page_1}; what could not be taken is on that message"),
        ("processed", None),
        ("processed", None),
    ]
    assert [row.body for row in fresh] == served_bodies[1:]  # all but the token; the 404 is not kept
    assert set(orders()) == {"RX-1"}


def test_a_server_down_answers_503_and_the_page_stays_in_quarantine_with_the_new_reason(
    client: TestClient, pharmacist_token: str, quarantined: tuple[int, int]
) -> None:
    page_1, _page_2 = quarantined

    with respx.mock(assert_all_called=True, assert_all_mocked=True) as mock:
        token_route(mock)
        down = mock.get(f"{BASE}/MedicationRequest").respond(503, text="Service Unavailable")
        answer = reprocess(client, pharmacist_token, page_1)

    failure = "FHIR server: MedicationRequest search: HTTP 503 Service Unavailable"
    assert (answer.status_code, answer.headers["Content-Type"]) == (503, "application/problem+json")
    assert answer.json()["title"] == "Hospital server unavailable"
    assert answer.json()["detail"] == (
        "Server rumah sakit tidak dapat dihubungi; pesan tetap di karantina, coba lagi nanti / "
        f"the hospital's server could not be reached; the message stays in quarantine, try again later ({failure})"
    )
    assert down.call_count == 1
    old_1, old_2 = inbox()  # nothing archived: the server sent nothing to keep
    assert (old_1.status, old_1.error) == ("rejected", f"Re-process failed: {failure}")
    assert old_2.status == "rejected"
    assert set(orders()) == {"RX-1"}


def test_another_hospitals_page_is_not_found_and_its_server_not_asked(
    client: TestClient,
    session: Session,
    staff_maker: Callable[[Session, Any, str, str], str],
    quarantined: tuple[int, int],
) -> None:
    from dispatch.hospitals.models import HospitalCreate
    from dispatch.hospitals.service import create_hospital

    genteng = create_hospital(
        session,
        HospitalCreate(
            code="RSUDGTG",
            name="RSUD Genteng",
            address="Jl. Hasanudin No. 98, Genteng Kulon, Kab. Banyuwangi",
            lat=-8.3686,
            lon=114.1524,
            kabupaten_code="35.10",
            phone="0333-845-839",
        ),
    )
    session.commit()
    other_pharmacist = staff_maker(session, genteng, "apoteker-genteng", "pharmacist")
    page_1, _page_2 = quarantined

    with respx.mock(assert_all_mocked=True) as mock:
        answer = reprocess(client, other_pharmacist, page_1)
        assert mock.calls.call_count == 0

    assert (answer.status_code, answer.json()["title"]) == (404, "Message not found")
    assert (inbox()[0].status, inbox()[0].error) == ("rejected", f"MedicationRequest/mr-2: {GONE}")


@pytest.mark.parametrize(
    ("source", "body", "refusal"),
    [
        ("khanza", b"RX-K-1", "khanza messages cannot be re-run here"),
        (
            "fhir_pull",
            b"<html><body>502 Bad Gateway</body></html>",
            "the message names no MedicationRequest to read again from the FHIR server (a page the poll "
            "could not read at all is read again by the next poll)",
        ),
    ],
)
def test_a_message_with_nothing_to_read_again_gets_the_clear_refusal(
    client: TestClient,
    pharmacist_token: str,
    hospital: Any,
    fhir_source: Any,
    source: str,
    body: bytes,
    refusal: str,
) -> None:
    from dispatch.inbox import service as inbox_service

    inbox_id = inbox_service.archive_raw(source, body, {}, hospital_id=hospital.id)
    inbox_service.reject(inbox_id, "what the poll said", hospital_id=hospital.id)

    with respx.mock(assert_all_mocked=True) as mock:
        answer = reprocess(client, pharmacist_token, inbox_id)
        assert mock.calls.call_count == 0

    assert (answer.status_code, answer.json()["detail"]) == (409, refusal)
    [row] = inbox()
    assert (row.status, row.error) == ("rejected", "what the poll said")


def test_a_page_names_its_matched_requests_by_resource_id_or_else_by_full_url() -> None:
    from hospital_adapter.fhir.pull import requests_named

    lost = {"fullUrl": f"{BASE}/MedicationRequest/mr-lost", "search": {"mode": "match"}}  # no resource
    forged = medication_request("mr-1,mr-2&subject=Patient/x")
    raw = page(
        entry(RX_1, "match"), lost, entry(RX_2[0], "include"), entry(forged, "match"), entry(RX_1, "match")
    )

    assert requests_named(raw) == ["mr-1", "mr-lost"]  # once each; not an include; an id, never a query
    assert requests_named(b"<html><body>502 Bad Gateway</body></html>") == []
