"""Orders with known outcomes, times and costs for two hospitals, and the figures they must give.

Hospital A (the fixture hospital, RSUDBLB), released in January and February 2026 (WIB):

| # | month | payer evidence              | kecamatan | courier (last)         | outcome   | minutes | prices        | desa          |
|---|-------|-----------------------------|-----------|------------------------|-----------|---------|---------------|---------------|
| 1 | Jan   | PBI APBN                    | 35.10.01  | gosend                 | delivered | 30      | 20,000        | 35.10.01.2001 |
| 2 | Jan   | PBI APBD                    | 35.10.01  | gosend                 | delivered | 50      | 24,000        | 35.10.01.2001 |
| 3 | Jan   | SPM                         | 35.10.02  | lalamove, grabexpress  | delivered | 40      | 5,000 + 30,000| 35.10.02.2001 |
| 4 | Jan   | hospital delivers to all    | 35.10.02  | grabexpress            | returned  |         | 15,000        |               |
| 5 | Jan   | SPM, PBI APBN not accepted  | 35.10.01  | (never booked)         | cancelled |         |               |               |
| 6 | Feb   | PBI APBN (01:00 WIB 1 Feb)  | 35.10.02  | gosend                 | delivered | 90      | 22,000        | 35.10.02.2001 |
| 7 | Feb   | imported list               | (none)    | gosend                 | delivered | 25      | 18,000        | 35.10.02 (kec)|

Not counted: an order awaiting release (never released), one released in March. Hospital B (RSUDGTG) has one
delivered PBI order in January in kecamatan 35.10.01 by gosend, 10 minutes, Rp 99,000: it must never show in A's
figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session

from dispatch.dispatching.models import AttemptStatus, BookingAttempt
from dispatch.hospitals.models import CourierAccount, Hospital
from dispatch.orders.models import Order, Patient, Prescription
from dispatch.orders.state_machine import OrderStatus

SECOND_HOSPITAL = {
    "code": "RSUDGTG",
    "name": "RSUD Genteng",
    "lat": -8.3686,
    "lon": 114.1524,
    "kabupaten_code": "35.10",
    "phone": "0333-845-839",
}


@dataclass
class Seeded:
    session: Session
    hospital_id: int
    other_hospital_id: int


KECAMATAN = {"35.10.01": "Pesanggaran", "35.10.02": "Bangorejo"}


def _eligibility(basis: str | None, *, pbi_not_accepted: bool = False) -> dict[str, Any]:
    evidence: dict[str, Any] = {"coverages": []}
    if pbi_not_accepted:
        evidence["pbi_not_accepted_by_policy"] = ["apbn"]
    return {"eligible": True, "basis": basis, "reason": "", "evidence": evidence}


def wib(day: str, hour: int) -> datetime:
    """A moment written in WIB (UTC+7), returned in UTC as the database holds it."""
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00+07:00").astimezone(UTC)


class Seeder:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.count = 0
        self.accounts: dict[tuple[int, str], int] = {}

    def account(self, hospital_id: int, courier: str) -> int:
        key = (hospital_id, courier)
        if key not in self.accounts:
            # Disabled: the app's start-up check validates the settings of enabled accounts only.
            account = CourierAccount(hospital_id=hospital_id, courier=courier, enabled=False)
            self.session.add(account)
            self.session.flush()
            assert account.id is not None
            self.accounts[key] = account.id
        return self.accounts[key]

    def order(
        self,
        hospital_id: int,
        *,
        released_at: datetime | None,
        status: OrderStatus,
        eligibility: dict[str, Any],
        kecamatan: str | None = None,
        attempts: tuple[tuple[str, AttemptStatus, int | None], ...] = (),
        minutes: int | None = None,
        desa: str | None = None,
    ) -> Order:
        self.count += 1
        patient = Patient(hospital_id=hospital_id, source_id=f"MRN{self.count}", name=f"Pasien {self.count}")
        self.session.add(patient)
        self.session.flush()
        assert patient.id is not None
        prescription = Prescription(
            hospital_id=hospital_id,
            patient_id=patient.id,
            source="fhir",
            prescription_number=f"RX{self.count}",
            status="active",
        )
        self.session.add(prescription)
        self.session.flush()
        assert prescription.id is not None
        closed_at = None
        if released_at is not None and minutes is not None:
            closed_at = released_at + timedelta(minutes=minutes)
        elif status in (OrderStatus.RETURNED, OrderStatus.CANCELLED) and released_at is not None:
            closed_at = released_at + timedelta(hours=3)
        order = Order(
            hospital_id=hospital_id,
            prescription_id=prescription.id,
            patient_id=patient.id,
            status=status,
            released_at=released_at,
            closed_at=closed_at,
            eligibility=eligibility,
            kecamatan_code=kecamatan,
            kecamatan_name=KECAMATAN.get(kecamatan or ""),
            geocode_code=desa,
            geocode_level=None if desa is None else ("desa" if desa.count(".") == 3 else "kecamatan"),
        )
        self.session.add(order)
        self.session.flush()
        assert order.id is not None
        for index, (courier, attempt_status, price) in enumerate(attempts):
            attempt = BookingAttempt(
                order_id=order.id,
                hospital_id=hospital_id,
                courier=courier,
                account_id=self.account(hospital_id, courier),
                reference=f"GC-{order.id}-{index}",
                status=attempt_status,
                price_idr=price,
                quoted_price_idr=None if price is None else price + 1000,
            )
            self.session.add(attempt)
            self.session.flush()
            order.current_attempt_id = attempt.id
        return order


# The orders one GoSend booking delivered: rows 1, 2, 6 and 7 of the table above, the March order and hospital B's.
# (hospital, WIB day, WIB hour, eligibility basis, kecamatan, price, minutes, desa)
GOSEND_DELIVERIES: tuple[tuple[str, str, int, str, str | None, int, int, str], ...] = (
    ("A", "2026-01-05", 9, "bpjs_pbi_apbn", "35.10.01", 20_000, 30, "35.10.01.2001"),
    ("A", "2026-01-06", 10, "bpjs_pbi_apbd", "35.10.01", 24_000, 50, "35.10.01.2001"),
    ("A", "2026-02-01", 1, "bpjs_pbi_apbn", "35.10.02", 22_000, 90, "35.10.02.2001"),  # 31 Jan 18:00 UTC
    ("A", "2026-02-10", 8, "imported_list", None, 18_000, 25, "35.10.02"),
    ("A", "2026-03-01", 0, "bpjs_pbi_apbn", "35.10.01", 21_000, 35, "35.10.01.2001"),
    ("B", "2026-01-05", 9, "bpjs_pbi_apbn", "35.10.01", 99_000, 10, "35.10.01.2002"),
)


def seed_orders(session: Session, hospital_a: Hospital) -> Hospital:
    """Seeds the table above; returns hospital B."""
    hospital_b = Hospital(**SECOND_HOSPITAL)
    session.add(hospital_b)
    session.flush()
    assert hospital_a.id is not None and hospital_b.id is not None
    hospital_ids = {"A": hospital_a.id, "B": hospital_b.id}
    a = hospital_a.id
    seeder = Seeder(session)
    for hospital, day, hour, basis, kecamatan, price, minutes, desa in GOSEND_DELIVERIES:
        seeder.order(
            hospital_ids[hospital],
            released_at=wib(day, hour),
            status=OrderStatus.DELIVERED,
            eligibility=_eligibility(basis),
            kecamatan=kecamatan,
            attempts=(("gosend", AttemptStatus.DELIVERED, price),),
            minutes=minutes,
            desa=desa,
        )
    seeder.order(
        a,
        released_at=wib("2026-01-07", 11),
        status=OrderStatus.DELIVERED,
        eligibility=_eligibility("spm"),
        kecamatan="35.10.02",
        attempts=(
            ("lalamove", AttemptStatus.CANCELLED, 5_000),
            ("grabexpress", AttemptStatus.DELIVERED, 30_000),
        ),
        minutes=40,
        desa="35.10.02.2001",
    )
    seeder.order(
        a,
        released_at=wib("2026-01-08", 12),
        status=OrderStatus.RETURNED,
        eligibility=_eligibility("policy_accept_all"),
        kecamatan="35.10.02",
        attempts=(("grabexpress", AttemptStatus.FAILED, 15_000),),
    )
    seeder.order(
        a,
        released_at=wib("2026-01-09", 13),
        status=OrderStatus.CANCELLED,
        eligibility=_eligibility("spm", pbi_not_accepted=True),
        kecamatan="35.10.01",
    )
    seeder.order(
        a,
        released_at=None,
        status=OrderStatus.AWAITING_RELEASE,
        eligibility=_eligibility("bpjs_pbi_apbn"),
        kecamatan="35.10.01",
    )
    session.commit()
    return hospital_b
