"""The delivery report over a realistic volume: N released orders (default 100,000) of one hospital over 12
months in PostgreSQL, beside a second hospital's 20,000, timed as the API and the console ask for it.

Run: BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/gancang_bench_reports \\
     .venv/bin/python bench/reports_bench.py [--orders 100000]
Seeds its own database (dropped and migrated first) by COPY; about 1.1 booking attempts per order.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from _support import fresh_database, seed_hospital

YEAR_START = datetime(2025, 1, 1, tzinfo=UTC)
COURIERS = ("gosend", "grabexpress", "lalamove", "webhook")
RUNS = 5


def _eligibility(rng: random.Random) -> dict[str, Any]:
    draw = rng.random()
    basis = "bpjs_pbi_apbn" if draw < 0.7 else "bpjs_pbi_apbd" if draw < 0.8 else "spm"
    return {"eligible": True, "basis": basis, "reason": "", "evidence": {"coverages": []}}


def seed(hospital_id: int, orders: int, rng: random.Random) -> None:
    """Patients, prescriptions, orders and booking attempts by COPY, then ANALYZE as autovacuum would."""
    from sqlalchemy import text

    from dispatch.core.db import insert_rows, new_session
    from dispatch.dispatching.models import BookingAttempt
    from dispatch.geocoding.gazetteer import DESA_LEVELS, load_gazetteer
    from dispatch.hospitals.models import CourierAccount
    from dispatch.orders.models import Order, Patient, Prescription

    gazetteer = load_gazetteer()
    desa = [u for u in gazetteer if u.code.startswith("35.10.") and u.level in DESA_LEVELS]
    with new_session() as session:
        accounts = {}
        for courier in COURIERS:
            account = CourierAccount(hospital_id=hospital_id, courier=courier, enabled=False)
            session.add(account)
            session.flush()
            accounts[courier] = account.id
        tag = f"h{hospital_id}-"
        patients = insert_rows(
            session,
            Patient,
            [{"hospital_id": hospital_id, "source_id": f"{tag}{i}", "name": f"P{i}"} for i in range(orders)],
        )
        prescriptions = insert_rows(
            session,
            Prescription,
            [
                {
                    "hospital_id": hospital_id,
                    "patient_id": patient,
                    "source": "khanza",
                    "prescription_number": f"{tag}{i}",
                    "status": "active",
                }
                for i, patient in enumerate(patients)
            ],
        )
        order_rows = []
        for patient, prescription in zip(patients, prescriptions, strict=True):
            released = YEAR_START + timedelta(minutes=rng.randrange(365 * 24 * 60))
            place = rng.choice(desa)
            outcome = rng.random()
            status = (
                "delivered"
                if outcome < 0.88
                else "returned"
                if outcome < 0.93
                else "cancelled"
                if outcome < 0.97
                else "no_courier"
            )
            minutes = rng.lognormvariate(3.9, 0.45) if status == "delivered" else 200.0
            order_rows.append(
                {
                    "hospital_id": hospital_id,
                    "prescription_id": prescription,
                    "patient_id": patient,
                    "status": status,
                    "released_at": released,
                    "closed_at": None if status == "no_courier" else released + timedelta(minutes=minutes),
                    "kecamatan_code": place.parent_code,
                    "kecamatan_name": place.parent_code,
                    "geocode_level": "desa",
                    "geocode_code": place.code,
                    "eligibility": _eligibility(rng),
                }
            )
        order_ids = insert_rows(session, Order, order_rows)
        attempts = []
        for order_id, row in zip(order_ids, order_rows, strict=True):
            tries = 2 if rng.random() < 0.1 else 1
            for attempt in range(tries):
                courier = rng.choice(COURIERS)
                last = attempt == tries - 1
                attempts.append(
                    {
                        "order_id": order_id,
                        "hospital_id": hospital_id,
                        "courier": courier,
                        "account_id": accounts[courier],
                        "reference": f"B{order_id}-{attempt}",
                        "status": "delivered" if last and row["status"] == "delivered" else "cancelled",
                        "price_idr": rng.randrange(12_000, 45_000, 500) if last else None,
                    }
                )
        insert_rows(session, BookingAttempt, attempts)
        session.execute(
            text(
                "UPDATE orders SET current_attempt_id = last.id FROM "
                "(SELECT order_id, max(id) AS id FROM booking_attempts GROUP BY order_id) AS last "
                "WHERE last.order_id = orders.id AND orders.hospital_id = :hospital"
            ),
            {"hospital": hospital_id},
        )
        session.commit()
    with new_session() as session:
        session.connection().exec_driver_sql("ANALYZE")
        session.commit()


def timed(call: Callable[[], object]) -> str:
    call()  # the first run warms the pool and PostgreSQL's caches
    runs = []
    for _ in range(RUNS):
        started = time.perf_counter()
        call()
        runs.append((time.perf_counter() - started) * 1000)
    return f"median {statistics.median(runs):.0f} ms (min {min(runs):.0f}, max {max(runs):.0f}, {RUNS} runs)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=100_000)
    args = parser.parse_args()

    fresh_database()
    hospital_id, _key = seed_hospital()
    from dispatch.core.db import new_session
    from dispatch.hospitals.models import Hospital

    with new_session() as session:
        other = Hospital(code="RSUDGTG", name="RSUD Genteng", phone="0333-845-839", lat=-8.37, lon=114.15)
        session.add(other)
        session.commit()
        other_id = other.id
    assert other_id is not None
    rng = random.Random(6)
    started = time.perf_counter()
    seed(hospital_id, args.orders, rng)
    seed(other_id, 20_000, rng)
    print(f"Seeded {args.orders:,} + 20,000 orders in {time.perf_counter() - started:.0f} s")

    from fastapi.testclient import TestClient

    from dispatch.app import create_app
    from dispatch.auth.models import Role, StaffUserCreate
    from dispatch.auth.service import create_user, login
    from dispatch.reports.api import load_report
    from dispatch.reports.service import month_range

    with new_session() as session:
        hospital = session.get(Hospital, hospital_id)
        assert hospital is not None
        password = "bench-viewer-password"  # noqa: S105 - a throwaway bench database
        create_user(
            session,
            hospital,
            StaffUserCreate(username="viewer", full_name="Viewer", role=Role.VIEWER, password=password),
        )
        _user, token = login(session, "viewer", password)
        session.commit()

    every = ("month", "payer", "kecamatan", "courier")
    with new_session() as session:
        for label, first, last in (("one month", "2025-06", "2025-06"), ("12 months", "2025-01", "2025-12")):
            months = month_range(first, last)
            report = load_report(session, hospital_id, months, every)
            figure = timed(lambda months=months: load_report(session, hospital_id, months, every))
            print(
                f"Report, {label}, by month x payer x kecamatan x courier "
                f"({report.total.orders:,} orders, {len(report.rows)} rows): {figure}"
            )
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app()) as client:
        for label, path in (
            ("CSV, 12 months, every dimension", "/api/v1/reports/deliveries.csv"),
            ("console page, 12 months (table by month x payer, 3 charts, desa map)", "/console/reports"),
        ):
            query = {"from": "2025-01", "to": "2025-12"}
            if path.endswith(".csv"):
                query["group_by"] = ",".join(every)

            def get(path: str = path, query: dict[str, str] = query) -> None:
                response = client.get(path, params=query, headers=headers)
                assert response.status_code == 200, response.text

            print(f"{label}: {timed(get)}")


if __name__ == "__main__":
    main()
