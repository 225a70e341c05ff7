"""Hospital B's staff, in every role a route allows, try every route that takes an id with hospital A's ids.

Each attempt must be answered 404 (or 403), show none of A's data, and change nothing of A's: every row of
every table that belongs to A (by hospital, or by one of A's orders or users) is compared before and after.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from security_support import ACCESS, REQUESTS, STAFF, Tenant, route_keys, send
from sqlalchemy import text

from dispatch.core.db import get_engine

# Where a route takes a hospital's id, and where an id in the path is not a hospital's record.
PATH_IDS = ("{order_id}", "{inbox_id}", "{user_id}", "{account_id}", "{key_id}")
NOT_HOSPITAL_IDS = ("{courier}", "{gateway}", "{token}", "{kind}")
# Routes that take an id in the body: B's own order with A's courier account.
BODY_IDS = ("POST /api/v1/orders/{order_id}/courier", "POST /console/orders/{order_id}/courier")


def _snapshot(tenant: Tenant) -> dict[str, list[Any]]:
    """Every row that is A's: tables with a hospital_id, and rows hanging off A's orders and users."""
    owned = {"hospital_id": "= :h", "order_id": "IN (SELECT id FROM orders WHERE hospital_id = :h)"}
    owned["user_id"] = "IN (SELECT id FROM staff_users WHERE hospital_id = :h)"
    with get_engine().connect() as connection:
        columns = connection.execute(
            text(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = 'public' AND column_name IN ('hospital_id', 'order_id', 'user_id')"
            )
        ).all()
        snapshot = {
            f"{table}.{column}": [
                tuple(row)
                for row in connection.execute(
                    text(f"SELECT * FROM {table} WHERE {column} {owned[column]} ORDER BY 1"),  # noqa: S608
                    {"h": tenant.hospital_id},
                ).all()
            ]
            for table, column in columns
        }
        snapshot["hospitals"] = [
            tuple(row)
            for row in connection.execute(
                text("SELECT * FROM hospitals WHERE id = :h"), {"h": tenant.hospital_id}
            )
        ]
    return snapshot


def _routes_with_ids(app: Any) -> list[str]:
    return [route for route in route_keys(app) if any(part in route for part in PATH_IDS)]


def test_every_route_with_an_id_is_in_the_cross_hospital_matrix(matrix_client):
    with_params = [route for route in route_keys(matrix_client.app) if "{" in route]
    unclassified = [
        route for route in with_params if not any(part in route for part in PATH_IDS + NOT_HOSPITAL_IDS)
    ]
    assert unclassified == [], "a new kind of id: add it to PATH_IDS or NOT_HOSPITAL_IDS"


def test_another_hospitals_ids_are_not_found_show_nothing_and_change_nothing(
    matrix_client, session, tenant_a, tenant_b
):
    before = _snapshot(tenant_a)
    wrong = []
    tried = 0
    for route in _routes_with_ids(matrix_client.app):
        for role in sorted(ACCESS[route] & STAFF):
            response = send(matrix_client, session, tenant_b, role, REQUESTS[route](tenant_a, role))
            tried += 1
            if response.status_code not in (403, 404):
                wrong.append(f"{route} as B's {role}: {response.status_code} {response.text[:120]}")
            leaked = [value for value in tenant_a.private_text if value in response.text]
            if leaked:
                wrong.append(f"{route} as B's {role}: shows A's {leaked}")
    assert wrong == [], "\n".join(wrong)
    assert tried > 40
    assert _snapshot(tenant_a) == before


def test_another_hospitals_courier_account_cannot_book_our_order(matrix_client, session, tenant_a, tenant_b):
    """B's own order, with A's courier account in the body: refused, and nothing booked with A's account."""
    before = _snapshot(tenant_a)
    mixed = dataclasses.replace(tenant_b, account_id=tenant_a.account_id)
    wrong = []
    for route in BODY_IDS:
        for role in sorted(ACCESS[route] & STAFF):
            response = send(matrix_client, session, tenant_b, role, REQUESTS[route](mixed, role))
            refused_here = response.status_code in (
                403,
                404,
                409,
                422,
            ) or "courier_refused" in response.headers.get("location", "")
            if not refused_here:
                wrong.append(
                    f"{route} as B's {role}: {response.status_code} {response.headers.get('location')}"
                )
    assert wrong == [], "\n".join(wrong)
    with get_engine().connect() as connection:
        booked = connection.execute(
            text("SELECT count(*) FROM booking_attempts WHERE account_id = :a"), {"a": tenant_a.account_id}
        ).scalar_one()
    assert booked == 0
    assert _snapshot(tenant_a) == before


def test_lists_and_reports_show_only_the_callers_hospital(matrix_client, session, tenant_a, tenant_b):
    """Routes without ids: each of B's roles reads its lists, pages and reports, and sees none of A's data."""
    leaks = []
    for route in route_keys(matrix_client.app):
        if "{" in route or not route.startswith("GET "):
            continue
        for role in sorted(ACCESS[route] & STAFF):
            response = send(matrix_client, session, tenant_b, role, REQUESTS[route](tenant_b, role))
            leaked = [value for value in tenant_a.private_text if value in response.text]
            if leaked:
                leaks.append(f"{route} as B's {role}: shows A's {leaked}")
    assert leaks == [], "\n".join(leaks)
