"""GET /api/v1/reports/deliveries(.csv): exact figures, the range limit, and who may read whose figures."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from reports_seed import Seeded
from sqlmodel import Session

from dispatch.hospitals.models import Hospital

StaffMaker = Callable[[Session, Hospital, str, str], str]
JAN_FEB = {"from": "2026-01", "to": "2026-02"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def viewer(seeded_postgres: Seeded, hospital: Hospital, staff_maker: StaffMaker) -> dict[str, str]:
    return bearer(staff_maker(seeded_postgres.session, hospital, "viewer-report", "viewer"))


def test_viewer_reads_month_by_payer(client: TestClient, viewer: dict[str, str]) -> None:
    response = client.get(
        "/api/v1/reports/deliveries", params=JAN_FEB | {"group_by": "payer,month"}, headers=viewer
    )
    assert response.status_code == 200, response.text
    figures = ("orders", "delivered", "share_delivered", "median_minutes_to_delivery", "cost_idr")
    body = response.json()
    assert (body["from_month"], body["to_month"], body["group_by"]) == (
        "2026-01",
        "2026-02",
        ["month", "payer"],
    )
    assert [
        (row["month"], row["payer"], *(row[name] for name in figures), row["cost_per_delivery_idr"])
        for row in body["rows"]
    ] == [
        ("2026-01", "non_pbi", 2, 1, 0.5, 40.0, 50_000, 50_000),
        ("2026-01", "pbi", 3, 2, 0.6667, 40.0, 44_000, 22_000),
        ("2026-02", "non_pbi", 1, 1, 1.0, 25.0, 18_000, 18_000),
        ("2026-02", "pbi", 1, 1, 1.0, 90.0, 22_000, 22_000),
    ]
    assert body["total"] == {
        "orders": 7,
        "delivered": 5,
        "share_delivered": 0.7143,
        "median_minutes_to_delivery": 40.0,
        "cost_idr": 134_000,
        "cost_per_delivery_idr": 26_800,
    }


def test_csv_export(client: TestClient, viewer: dict[str, str]) -> None:
    response = client.get(
        "/api/v1/reports/deliveries.csv", params=JAN_FEB | {"group_by": "kecamatan,courier"}, headers=viewer
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="gancang-deliveries-2026-01-2026-02.csv"'
    )
    assert response.text == (
        "kecamatan,kecamatan_name,courier,orders,delivered,share_delivered,median_minutes_to_delivery,"
        "cost_idr,cost_per_delivery_idr\n"
        ",,gosend,1,1,1.0,25.0,18000,18000\n"
        "35.10.01,Pesanggaran,,1,0,0.0,,0,\n"
        "35.10.01,Pesanggaran,gosend,2,2,1.0,40.0,44000,22000\n"
        "35.10.02,Bangorejo,gosend,1,1,1.0,90.0,22000,22000\n"
        "35.10.02,Bangorejo,grabexpress,2,1,0.5,40.0,50000,50000\n"
    )


def test_a_range_over_24_months_is_refused(client: TestClient, viewer: dict[str, str]) -> None:
    response = client.get(
        "/api/v1/reports/deliveries.csv", params={"from": "2024-01", "to": "2026-01"}, headers=viewer
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "about:blank",
        "title": "Report refused",
        "status": 422,
        "detail": "Rentang paling panjang 24 bulan, diminta 25 / "
        "the range may span at most 24 months; 25 were asked for",
    }
    exactly_24 = client.get(
        "/api/v1/reports/deliveries.csv", params={"from": "2024-02", "to": "2026-01"}, headers=viewer
    )
    assert exactly_24.status_code == 200


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"from": "2026-3", "to": "2026-04"}, "a month is written YYYY-MM (years 2000-2100): '2026-3'"),
        ({"from": "2026-13", "to": "2026-12"}, "a month is written YYYY-MM (years 2000-2100): '2026-13'"),
        ({"from": "2026-05", "to": "2026-04"}, "'from' (2026-05) is after 'to' (2026-04)"),
        (JAN_FEB | {"group_by": "month,ward"}, "unknown dimension: ward"),
    ],
)
def test_bad_requests_are_refused(
    client: TestClient, viewer: dict[str, str], params: dict[str, str], detail: str
) -> None:
    response = client.get("/api/v1/reports/deliveries", params=params, headers=viewer)
    assert response.status_code == 422
    assert detail in response.json()["detail"]


@pytest.mark.parametrize("role", ["pharmacist", "dispatcher", "admin"])
def test_every_role_above_viewer_reads_reports(
    client: TestClient, seeded_postgres: Seeded, hospital: Hospital, staff_maker: StaffMaker, role: str
) -> None:
    token = staff_maker(seeded_postgres.session, hospital, f"{role}-report", role)
    response = client.get(
        "/api/v1/reports/deliveries", params=JAN_FEB | {"group_by": ""}, headers=bearer(token)
    )
    assert response.status_code == 200
    assert response.json()["total"]["orders"] == 7


def test_staff_of_another_hospital_see_only_theirs(
    client: TestClient, seeded_postgres: Seeded, staff_maker: StaffMaker
) -> None:
    other = seeded_postgres.session.get(Hospital, seeded_postgres.other_hospital_id)
    assert other is not None
    token = staff_maker(seeded_postgres.session, other, "viewer-genteng", "viewer")
    response = client.get(
        "/api/v1/reports/deliveries", params=JAN_FEB | {"group_by": "hospital"}, headers=bearer(token)
    )
    assert response.status_code == 200
    assert response.json()["rows"] == [
        {
            "hospital": "RSUDGTG",
            "hospital_name": "RSUD Genteng",
            "orders": 1,
            "delivered": 1,
            "share_delivered": 1.0,
            "median_minutes_to_delivery": 10.0,
            "cost_idr": 99_000,
            "cost_per_delivery_idr": 99_000,
        }
    ]


@pytest.mark.parametrize("path", ["/api/v1/reports/deliveries", "/api/v1/reports/deliveries.csv"])
def test_unauthenticated_is_refused(client: TestClient, seeded_postgres: Seeded, path: str) -> None:
    response = client.get(path, params=JAN_FEB)
    assert response.status_code == 401
    assert response.json()["title"] == "Not authenticated"
    refused = client.get(path, params=JAN_FEB, headers=bearer("gs_not-a-session"))
    assert refused.status_code == 401
