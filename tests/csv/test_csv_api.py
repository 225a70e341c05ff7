"""CSV upload over HTTP: the JSON API (multipart and raw), the template, the console page, the inbox archive."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from dispatch.core.db import new_session
from dispatch.inbox.models import InboxMessage
from dispatch.orders.models import Order, Prescription
from hospital_adapter.csv import TEMPLATE_CSV

URL = "/api/v1/intake/csv"
HEADER = "no_resep;tgl_resep;no_rm;nama_pasien;no_hp;alamat;kode_desa;penjamin;jenis_peserta;no_sep;kode_obat;nama_obat;jumlah;satuan;aturan_pakai"
CSRF_FIELD = re.compile(r'<input type="hidden" name="csrf" value="([0-9a-f]{64})">')


def line(no_resep: str, no_rm: str, hp: str = "0812-3456-0101", obat: str = "Amlodipine 10 mg") -> str:
    return f"{no_resep};29/11/2026 08:00;{no_rm};Siti Ma'rufah;{hp};Dsn. Krajan;3510152004;BPJS Kesehatan;PBI (APBN);SEP-{no_resep};B1;{obat};30;TAB;1 x 1"


GOOD = (
    "\r\n".join([HEADER, line("RX-1", "RM-1"), line("RX-1", "RM-1", obat="Metformin"), line("RX-2", "RM-2")])
    + "\r\n"
).encode()
PARTIAL = (
    "\r\n".join([HEADER, line("RX-1", "RM-1"), line("RX-3", "RM-3", hp=""), line("RX-2", "RM-2")]) + "\r\n"
).encode()
NOTHING = ("\r\n".join([HEADER, line("RX-3", "RM-3", hp="")]) + "\r\n").encode()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def fetch(model, *where):
    with new_session() as session:
        query = select(model)
        for clause in where:
            query = query.where(clause)
        return list(session.exec(query.order_by(model.id)).all())


def upload(client: TestClient, token: str, body: bytes, name: str = "resep.csv"):
    return client.post(URL, headers=auth(token), files={"file": (name, body, "text/csv")})


def test_multipart_upload_creates_orders_awaiting_release(client, pharmacist_token):
    response = upload(client, pharmacist_token, GOOD)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["filename"] == "resep.csv"
    assert report["encoding"] == "utf-8"
    assert report["errors"] == []
    assert [(a["no_resep"], a["rows"], a["created"]) for a in report["accepted"]] == [
        ("RX-1", [2, 3], True),
        ("RX-2", [4], True),
    ]
    orders = fetch(Order)
    assert {o.id for o in orders} == {a["order_id"] for a in report["accepted"]}
    assert {o.status for o in orders} == {"awaiting_release"}
    assert {p.source for p in fetch(Prescription)} == {"csv"}
    [message] = fetch(InboxMessage)
    assert (message.source, message.status, bytes(message.body)) == ("csv", "processed", GOOD)
    assert message.headers["x-filename"] == "resep.csv"
    assert message.headers["x-actor"] == "apoteker1"


def test_a_raw_text_csv_body_in_windows_1252_is_taken(client, pharmacist_token):
    body = GOOD.decode().replace("Siti Ma'rufah", "Séno").encode("cp1252")
    response = client.post(
        URL,
        params={"filename": "khanza.csv"},
        content=body,
        headers={**auth(pharmacist_token), "Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["encoding"] == "cp1252"
    assert response.json()["filename"] == "khanza.csv"
    assert len(fetch(Order)) == 2


def test_partial_acceptance_lists_bad_rows_and_takes_the_rest(client, pharmacist_token):
    response = upload(client, pharmacist_token, PARTIAL)
    assert response.status_code == 200
    report = response.json()
    assert [a["no_resep"] for a in report["accepted"]] == ["RX-1", "RX-2"]
    assert report["errors"] == [{"row": 3, "column": "no_hp", "message": "no_hp kosong / no_hp is empty"}]
    assert {p.prescription_number for p in fetch(Prescription)} == {"RX-1", "RX-2"}
    [message] = fetch(InboxMessage)
    assert message.status == "processed"
    assert "line 3 no_hp" in (message.error or "")


def test_uploading_the_same_file_again_creates_no_duplicates(client, pharmacist_token):
    first = upload(client, pharmacist_token, GOOD).json()
    again = upload(client, pharmacist_token, GOOD)
    assert again.status_code == 200
    assert [a["created"] for a in again.json()["accepted"]] == [False, False]
    assert [a["order_id"] for a in again.json()["accepted"]] == [a["order_id"] for a in first["accepted"]]
    assert len(fetch(Order)) == 2
    assert len(fetch(InboxMessage)) == 2


def test_nothing_taken_is_a_422_problem_and_the_file_is_still_archived(client, pharmacist_token):
    response = upload(client, pharmacist_token, NOTHING)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422
    assert problem["accepted"] == []
    assert problem["errors"] == [{"row": 2, "column": "no_hp", "message": "no_hp kosong / no_hp is empty"}]
    [message] = fetch(InboxMessage)
    assert (message.status, bytes(message.body)) == ("rejected", NOTHING)
    assert "no_hp" in (message.error or "")
    assert fetch(Order) == []


def test_an_unreadable_file_is_archived_and_refused(client, pharmacist_token):
    garbage = bytes(range(256))
    response = upload(client, pharmacist_token, garbage, "foto.jpg")
    assert response.status_code == 422
    assert response.json()["errors"][0]["row"] == 0
    [message] = fetch(InboxMessage)
    assert (message.status, bytes(message.body)) == ("rejected", garbage)


def test_a_file_over_5_mb_is_413(client, pharmacist_token):
    big = GOOD + b"x" * (5 * 1024 * 1024)
    assert upload(client, pharmacist_token, big).status_code == 413
    raw = client.post(URL, content=big, headers={**auth(pharmacist_token), "Content-Type": "text/csv"})
    assert raw.status_code == 413
    assert raw.headers["content-type"] == "application/problem+json"
    assert fetch(InboxMessage) == []


def test_a_form_without_the_file_field_is_422(client, pharmacist_token):
    response = client.post(URL, headers=auth(pharmacist_token), files={"other": ("a.csv", GOOD, "text/csv")})
    assert response.status_code == 422


def test_an_unsupported_media_type_is_415(client, pharmacist_token):
    response = client.post(URL, headers=auth(pharmacist_token), json={"rows": []})
    assert response.status_code == 415


def test_a_viewer_may_not_upload(client, viewer_token):
    response = upload(client, viewer_token, GOOD)
    assert response.status_code == 403
    assert fetch(InboxMessage) == []


def test_an_admin_may_upload(client, session, hospital, staff_maker):
    token = staff_maker(session, hospital, "admin1", "admin")
    assert upload(client, token, GOOD).status_code == 200


def test_no_login_is_401(client, db):
    response = client.post(URL, files={"file": ("resep.csv", GOOD, "text/csv")})
    assert response.status_code == 401
    assert client.get(f"{URL}/template").status_code == 401


def test_any_staff_may_download_the_template(client, viewer_token):
    response = client.get(f"{URL}/template", headers=auth(viewer_token))
    assert response.status_code == 200
    assert response.content == TEMPLATE_CSV
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment;")


def test_the_template_itself_can_be_uploaded(client, pharmacist_token):
    response = upload(client, pharmacist_token, TEMPLATE_CSV)
    assert response.status_code == 200
    assert [a["rows"] for a in response.json()["accepted"]] == [[2, 3, 4]]


# --- console ----------------------------------------------------------------------------------------------


def console_login(client: TestClient, username: str) -> TestClient:
    browser = TestClient(client.app, follow_redirects=False)
    response = browser.post(
        "/console/login", data={"username": username, "password": f"{username}-password-123"}
    )
    assert response.status_code == 303, response.text
    return browser


def csrf_of(browser: TestClient, page_url: str = "/console/intake/csv") -> str:
    page = browser.get(page_url)
    assert page.status_code == 200
    tokens = set(CSRF_FIELD.findall(page.text))
    assert len(tokens) == 1, tokens
    return tokens.pop()


def test_the_upload_page_needs_a_login(client, db):
    response = client.get("/console/intake/csv", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login"


def test_the_upload_page_has_a_form_and_the_template_link(client, pharmacist_token):
    browser = console_login(client, "apoteker1")
    page = browser.get("/console/intake/csv")
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in page.text
    assert 'name="file"' in page.text
    assert 'href="/api/v1/intake/csv/template"' in page.text
    assert "Unggah" in page.text
    template = browser.get("/api/v1/intake/csv/template")  # the session cookie is enough
    assert template.status_code == 200


def test_a_console_upload_shows_the_report_row_by_row(client, pharmacist_token):
    browser = console_login(client, "apoteker1")
    response = browser.post(
        "/console/intake/csv",
        data={"csrf": csrf_of(browser)},
        files={"file": ("resep.csv", PARTIAL, "text/csv")},
    )
    assert response.status_code == 200, response.text
    assert 'data-accepted="2"' in response.text
    assert 'data-errors="1"' in response.text
    assert (
        '<tr data-row="3"><td>3</td><td>no_hp</td><td>no_hp kosong / no_hp is empty</td></tr>'
        in response.text
    )
    assert {p.prescription_number for p in fetch(Prescription)} == {"RX-1", "RX-2"}


def test_a_console_upload_of_nothing_good_is_422_with_the_rows(client, pharmacist_token):
    browser = console_login(client, "apoteker1")
    response = browser.post(
        "/console/intake/csv",
        data={"csrf": csrf_of(browser)},
        files={"file": ("resep.csv", NOTHING, "text/csv")},
    )
    assert response.status_code == 422
    assert 'data-row="2"' in response.text
    assert [m.status for m in fetch(InboxMessage)] == ["rejected"]


@pytest.mark.parametrize("csrf", ["0" * 64, ""])
def test_a_forged_console_upload_is_refused(client, pharmacist_token, csrf):
    browser = console_login(client, "apoteker1")
    response = browser.post(
        "/console/intake/csv", data={"csrf": csrf}, files={"file": ("resep.csv", GOOD, "text/csv")}
    )
    assert response.status_code == 403
    assert "CSRF" in response.text
    assert fetch(InboxMessage) == []
    assert fetch(Order) == []


def test_a_viewer_sees_no_upload_form_and_a_forced_post_is_refused(client, viewer_token):
    browser = console_login(client, "viewer1")
    page = browser.get("/console/intake/csv")
    assert page.status_code == 200
    assert 'name="file"' not in page.text
    response = browser.post(
        "/console/intake/csv",
        data={"csrf": csrf_of(browser, "/console")},  # from the orders page's logout form
        files={"file": ("resep.csv", GOOD, "text/csv")},
    )
    assert response.status_code == 403
    assert fetch(Order) == []
