"""Where the patient is: a chain of sources asked in the hospital's order, and the pins people confirm.

The sources (``GeocodingPolicy.steps``), by default in this order:

* ``confirmed``: the pin a person placed for this patient before (staff, the patient on the tracking page, a
  courier). It beats any inference: the Kemendagri code usually comes from the KTP, and many patients live
  elsewhere than their KTP says;
* ``code``: the FHIR administrativeCode's desa code, exact to the desa (its centroid). A kecamatan or
  kabupaten code alone is only a hint for the next step, which may find the desa in the address text;
* ``gazetteer``: the address text against the Kemendagri gazetteer, scoped to the hospital's kabupaten;
* ``online``: the hospital's online geocoders (none by default), in order.

The first answer inside the service area that reaches ``min_confidence`` wins. Otherwise the best guess in
the area is kept on the order for staff to check, and the order needs an address. An answer outside the
service area is never used: the order needs an address, and the timeline says where the source put it.

Never commits: the task or the request around it owns the transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final

from geopy.location import Location
from sqlmodel import Session

from dispatch.core.clock import utcnow
from dispatch.geocoding.geocoder import GazetteerGeocoder
from dispatch.geocoding.online import online_geocoder
from dispatch.geocoding.policy import GeocodingPolicy, Step
from dispatch.hospitals.models import Hospital
from dispatch.orders import service as orders_service
from dispatch.orders.models import Order, Patient
from dispatch.orders.state_machine import OrderStatus
from dispatch.outbox.service import enqueue

S = OrderStatus

CONFIRMERS: Final = frozenset({"patient", "staff", "courier"})

# Before a courier has the address, the destination may still change; after, the driver must be called.
DESTINATION_OPEN: Final = frozenset(
    {S.RECEIVED, S.AWAITING_RELEASE, S.RELEASED, S.NEEDS_ADDRESS, S.READY, S.NO_COURIER}
)

SOURCE: Final[dict[Step, str]] = {
    "confirmed": "the patient's confirmed pin",
    "code": "the Kemendagri code",
    "gazetteer": "the address text",
    "online": "an online geocoder",
}


class LocationRefused(ValueError):
    """A confirmed pin that cannot be right for this hospital (outside Indonesia or its service area)."""


class LocationLocked(LocationRefused):
    """The order's courier already has the address, or the order is over: the pin cannot change its trip."""


@lru_cache(maxsize=1)
def geocoder() -> GazetteerGeocoder:
    return GazetteerGeocoder()


def geocoding_policy(hospital: Hospital) -> GeocodingPolicy:
    return GeocodingPolicy.model_validate(hospital.geocoding_policy)


@dataclass(frozen=True, slots=True)
class Answer:
    """A source's idea of where the patient is, as the order records it."""

    step: Step
    lat: float
    lon: float
    level: str
    confidence: float
    code: str | None = None
    kecamatan_code: str | None = None
    kecamatan_name: str | None = None
    source: str = ""

    def describe(self) -> str:
        where = f"{self.level} {self.code}" if self.code else self.level
        return f"{where} from {self.source or SOURCE[self.step]}, confidence {self.confidence:.2f}"


@dataclass(frozen=True, slots=True)
class Located:
    """The chain's verdict: whether a driver can be sent, and what the timeline says about it."""

    ready: bool
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class _Search:
    session: Session
    hospital: Hospital
    patient: Patient
    policy: GeocodingPolicy
    problems: list[str] = field(default_factory=list)

    @property
    def scope(self) -> str | None:
        return self.hospital.kabupaten_code or None


def locate(session: Session, order: Order, hospital: Hospital) -> Located:
    """Ask the hospital's sources in order; sets the destination when one is found (a guess included)."""
    patient = session.get(Patient, order.patient_id)
    assert patient is not None
    policy = geocoding_policy(hospital)
    search = _Search(session, hospital, patient, policy)
    center = (hospital.lat, hospital.lon)
    best: Answer | None = None
    outside: list[str] = []
    for answer in (answer for step in policy.steps for answer in STEPS[step](search)):
        distance_km = policy.distance_outside(center, answer.lat, answer.lon)
        if distance_km is not None:
            outside.append(f"{answer.describe()} is {distance_km:.1f} km from the pharmacy")
            continue
        if best is None or answer.confidence > best.confidence:
            best = answer
        if answer.confidence >= policy.min_confidence:
            break
    if best is not None:
        _set_destination(order, best)
    data: dict[str, Any] = {"step": None if best is None else best.step}
    if best is not None and best.confidence >= policy.min_confidence:
        return Located(True, f"Located: {best.describe()}", {**data, "confidence": best.confidence})
    area = f"outside the service area ({policy.service_radius_km:g} km): {', '.join(outside)}"
    if best is not None:
        guess = f"best guess {best.describe()} (needs {policy.min_confidence:g})"
        parts = [f"Address not found precisely enough: {guess}", *([area] if outside else [])]
    else:
        parts = [f"Address {area}" if outside else "Address not found"]
    return Located(
        False,
        "; ".join([*parts, *search.problems]),
        {**data, "outside": outside, "problems": search.problems},
    )


def _set_destination(order: Order, answer: Answer) -> None:
    order.dest_lat, order.dest_lon = answer.lat, answer.lon
    order.geocode_level = answer.level
    order.geocode_code = answer.code
    order.geocode_confidence = answer.confidence
    order.kecamatan_code = answer.kecamatan_code
    order.kecamatan_name = answer.kecamatan_name


def _from_location(step: Step, location: Location, *, source: str = "") -> Answer:
    raw = location.raw
    return Answer(
        step=step,
        lat=location.latitude,
        lon=location.longitude,
        level=str(raw["level"]),
        confidence=float(raw["confidence"]),
        code=raw.get("code"),
        kecamatan_code=raw.get("kecamatan_code"),
        kecamatan_name=raw.get("kecamatan_name"),
        source=source,
    )


def _pin(lat: float, lon: float, scope: str | None) -> Answer:
    """A person's pin, with the desa it lies in (for the driver's note and the order lists) when known."""
    desa = geocoder().reverse((lat, lon), scope=scope)
    raw = {} if desa is None else desa.raw
    return Answer(
        step="confirmed",
        lat=lat,
        lon=lon,
        level="confirmed",
        confidence=1.0,
        code=raw.get("code"),
        kecamatan_code=raw.get("kecamatan_code"),
        kecamatan_name=raw.get("kecamatan_name"),
    )


def _confirmed(search: _Search) -> Iterator[Answer]:
    patient = search.patient
    if patient.confirmed_lat is not None and patient.confirmed_lon is not None:
        yield _pin(patient.confirmed_lat, patient.confirmed_lon, search.scope)


def _code(search: _Search) -> Iterator[Answer]:
    code = search.patient.village_code
    if code:
        location = geocoder().geocode({"code": code}, scope=search.scope)
        if location is not None:
            yield _from_location("code", location)


def _gazetteer(search: _Search) -> Iterator[Answer]:
    patient = search.patient
    text = patient.address_text
    if patient.postal_code and patient.postal_code not in text:
        text = f"{text}, {patient.postal_code}"
    hint = patient.district_code or patient.city_code or ""
    location = geocoder().geocode({"code": hint, "text": text}, scope=search.scope)
    if location is not None:
        yield _from_location("gazetteer", location)


def _online(search: _Search) -> Iterator[Answer]:
    center = (search.hospital.lat, search.hospital.lon)
    for config in search.policy.online:
        result = online_geocoder(config).geocode(
            search.session,
            search.patient.address_text,
            center=center,
            radius_km=search.policy.service_radius_km,
        )
        if result.status == "error":
            search.problems.append(result.detail)
        if result.location is not None:
            yield _from_location("online", result.location, source=config.provider)


STEPS: Final[dict[Step, Callable[[_Search], Iterator[Answer]]]] = {
    "confirmed": _confirmed,
    "code": _code,
    "gazetteer": _gazetteer,
    "online": _online,
}


def confirm_location(session: Session, order: Order, lat: float, lon: float, *, by: str, actor: str) -> None:
    """A person places the patient's pin: kept on the patient for every later delivery, and this order's
    destination when no courier has the address yet. An order waiting for its address goes to dispatch.

    Raises LocationRefused for a pin outside Indonesia or the hospital's service area, LocationLocked when
    the order is with a courier or over.
    """
    if by not in CONFIRMERS:
        raise ValueError(f"by must be one of {sorted(CONFIRMERS)}, not {by!r}")
    hospital = session.get(Hospital, order.hospital_id)
    patient = session.get(Patient, order.patient_id)
    assert hospital is not None and patient is not None
    policy = geocoding_policy(hospital)
    distance_km = policy.distance_outside((hospital.lat, hospital.lon), lat, lon)
    if distance_km is not None:
        raise LocationRefused(
            f"Lokasi di luar wilayah layanan rumah sakit ({policy.service_radius_km:g} km dari farmasi) / "
            f"the location is outside the hospital's service area ({policy.service_radius_km:g} km from the "
            f"pharmacy)"
        )
    if order.status not in DESTINATION_OPEN:
        raise LocationLocked(
            f"Pesanan berstatus {order.status.value}; lokasi tidak dapat diubah, hubungi pengemudi / "
            f"the order is {order.status.value}; its destination cannot change, call the driver"
        )
    pin = _pin(lat, lon, hospital.kabupaten_code or None)
    patient.confirmed_lat, patient.confirmed_lon = lat, lon
    patient.confirmed_at, patient.confirmed_by = utcnow(), by
    _set_destination(order, pin)
    where = f" in desa {pin.code}" if pin.code else ""
    orders_service.add_event(
        session,
        order,
        by,
        f"Location confirmed by {by}: {lat:.6f}, {lon:.6f}{where}",
        actor=actor,
        data={"lat": lat, "lon": lon, "by": by, "code": pin.code},
    )
    if order.status == S.NEEDS_ADDRESS:
        orders_service.transition(session, order, S.READY, actor=actor, detail=f"Location confirmed by {by}")
        enqueue(session, orders_service.DISPATCH_TOPIC, {"order_id": order.id}, hospital_id=order.hospital_id)
