"""Dispatch logic: where the patient lives, which courier to ask, and what a courier's report means.

Never commits; the Celery tasks around it own the transactions and the courier I/O.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlmodel import Session

from couriers.base import CourierAdapter, CourierEvent, CourierStatus, DeliveryRequest, Place
from couriers.registry import build_adapter
from dispatch.core.clock import utcnow
from dispatch.dispatching import repository
from dispatch.dispatching.distance import geodesic_km, learned_road_factor
from dispatch.dispatching.eta import ON_THE_WAY, estimated_arrival, preferred_arrival, quoted_arrival
from dispatch.dispatching.models import ACTIVE_ATTEMPT, AttemptStatus, BookingAttempt
from dispatch.dispatching.policy import (
    PARTNER_POOL,
    Candidate,
    Choice,
    DispatchPolicy,
    PastAttempt,
    Trip,
    cascade,
    eligible,
)
from dispatch.hospitals import repository as hospitals_repository
from dispatch.hospitals.models import CourierAccount, Hospital
from dispatch.notify import service as notify_service
from dispatch.orders import repository as orders_repository
from dispatch.orders import service as orders_service
from dispatch.orders.models import Order, Patient
from dispatch.orders.service import COLD_CHAIN
from dispatch.orders.state_machine import TERMINAL, OrderStatus, can_transition
from dispatch.outbox.service import enqueue

S = OrderStatus

# Item text shown to couriers: medicine travels sealed and unnamed.
PARCEL_DESCRIPTION = "Paket obat tertutup dari instalasi farmasi"

COURIER_STATUS_TO_ORDER: dict[CourierStatus, OrderStatus] = {
    CourierStatus.DRIVER_ASSIGNED: S.COURIER_ASSIGNED,
    CourierStatus.EN_ROUTE_PICKUP: S.COURIER_ASSIGNED,
    CourierStatus.PICKED_UP: S.PICKED_UP,
    CourierStatus.EN_ROUTE_DROPOFF: S.PICKED_UP,
    CourierStatus.ON_HOLD: S.PICKED_UP,
    CourierStatus.DELIVERED: S.DELIVERED,
    CourierStatus.RETURNING: S.DELIVERY_FAILED,
    CourierStatus.FAILED: S.DELIVERY_FAILED,
    CourierStatus.RETURNED: S.RETURNED,
}

# The courier gave the job back before pick-up: another courier may still take it.
GIVE_BACK = {
    CourierStatus.NO_DRIVER: AttemptStatus.NO_DRIVER,
    CourierStatus.CANCELLED: AttemptStatus.CANCELLED,
}

# Before pick-up a booking can still be cancelled at the courier.
CANCELLABLE_COURIER_STATUSES = frozenset(
    {CourierStatus.REQUESTED, CourierStatus.DRIVER_ASSIGNED, CourierStatus.EN_ROUTE_PICKUP}
)

ATTEMPT_OUTCOME = {
    CourierStatus.DELIVERED: AttemptStatus.DELIVERED,
    CourierStatus.RETURNING: AttemptStatus.FAILED,
    CourierStatus.FAILED: AttemptStatus.FAILED,
    CourierStatus.RETURNED: AttemptStatus.FAILED,
}


def dispatch_policy(hospital: Hospital) -> DispatchPolicy:
    return DispatchPolicy.model_validate(hospital.dispatch_policy)


def trip_for(session: Session, order: Order) -> Trip:
    """The trip as the dispatch policy weighs it, by its estimated road distance, so couriers' distance
    limits are held against roads, not crow flight."""
    hospital = session.get(Hospital, order.hospital_id)
    assert hospital is not None
    assert order.dest_lat is not None and order.dest_lon is not None
    return Trip(
        origin=(hospital.lat, hospital.lon),
        destination=(order.dest_lat, order.dest_lon),
        distance_km=road_km(session, order),
        cold_chain=COLD_CHAIN in order.flags,
    )


def road_km(session: Session, order: Order) -> float:
    """From the pharmacy to the patient: the straight line stretched by the hospital's learned road factor."""
    hospital = session.get(Hospital, order.hospital_id)
    assert hospital is not None
    assert order.dest_lat is not None and order.dest_lon is not None
    straight = geodesic_km((hospital.lat, hospital.lon), (order.dest_lat, order.dest_lon))
    return straight * learned_road_factor(session, hospital)


def courier_candidates(
    session: Session, order: Order
) -> list[tuple[Candidate, CourierAccount, CourierAdapter]]:
    """The accounts that may take the order now, in the hospital's preference order, with their adapters.

    In a fallback the cascade decides (``policy.cascade``): an account that gave the job back is asked once
    more, alone; one that refused, or had its tries, is skipped; the local partner pool comes after every
    commercial courier. When staff picked an account by hand, it is the only candidate, and
    only if it can physically take the trip (area, distance, cold chain); prices are then not compared.
    """
    assert order.id is not None
    hospital = session.get(Hospital, order.hospital_id)
    assert hospital is not None
    policy = dispatch_policy(hospital)
    history = [
        PastAttempt(attempt.account_id, given_back=is_given_back(attempt))
        for attempt in repository.attempts_for(session, order.id)
    ]
    tried, again = cascade(history, policy)
    accounts = {
        account.id: account
        for account in hospitals_repository.enabled_courier_accounts(session, order.hospital_id)
        if account.id is not None
    }
    if order.courier_override_account_id is not None:
        # Staff may send an account that was tried before back in (a driver freed up): theirs to judge.
        chosen = accounts.get(order.courier_override_account_id)
        accounts = {chosen.id: chosen} if chosen is not None and chosen.id is not None else {}
        tried, again = frozenset(), None
    adapters = {
        account_id: build_adapter(account.courier, account.settings)
        for account_id, account in accounts.items()
    }
    candidates = [
        Candidate(account_id, account.courier, account.priority, adapters[account_id].capabilities)
        for account_id, account in accounts.items()
    ]
    asked = eligible(candidates, trip_for(session, order), policy, tried=tried)
    if again is not None and any(candidate.account_id == again for candidate in asked):
        asked = [candidate for candidate in asked if candidate.account_id == again]
    elif history and policy.partner_pool_last and order.courier_override_account_id is None:
        commercial = [candidate for candidate in asked if candidate.courier != PARTNER_POOL]
        asked = commercial or asked
    return [
        (candidate, accounts[candidate.account_id], adapters[candidate.account_id]) for candidate in asked
    ]


# An attempt's ``error`` starting so: the courier gave the job back before pick-up; it may be asked once more.
GIVEN_BACK_REASON = "given back"


def is_given_back(attempt: BookingAttempt) -> bool:
    return (attempt.error or "").startswith(GIVEN_BACK_REASON)


def start_attempt(session: Session, order: Order, account: CourierAccount, choice: Choice) -> BookingAttempt:
    assert order.id is not None and account.id is not None
    number = len(repository.attempts_for(session, order.id)) + 1
    attempt = BookingAttempt(
        order_id=order.id,
        hospital_id=order.hospital_id,
        courier=account.courier,
        account_id=account.id,
        reference=f"GCG{order.id}A{number}-{secrets.token_hex(3)}",
        quoted_price_idr=choice.quote.price_idr if choice.quote else None,
        # The courier's own road distance for this trip: what the hospital's road factor is learned from.
        quoted_distance_km=choice.quote.distance_km if choice.quote else None,
        # The courier's own ETA, kept for when a driver is assigned (see ``_arrival``).
        eta_at=quoted_arrival(choice.quote.eta_minutes, utcnow()) if choice.quote else None,
    )
    session.add(attempt)
    session.flush()
    order.current_attempt_id = attempt.id
    order.courier_override_account_id = None  # staff's pick is used once; a fallback follows the policy
    orders_service.transition(
        session,
        order,
        S.BOOKING,
        detail=f"Booking {account.courier} (attempt {number}): {choice.reason}",
        data={"attempt_id": attempt.id},
    )
    return attempt


# Where staff may still choose the courier: nothing is booked, or the last booking is over.
COURIER_CHOOSABLE = frozenset({S.AWAITING_RELEASE, S.RELEASED, S.NEEDS_ADDRESS, S.READY, S.NO_COURIER})


class CourierNotChoosable(ValueError):
    """Staff picked a courier for an order that cannot take one now, or an account it cannot use."""


def choose_courier_by_hand(session: Session, order: Order, account_id: int, actor: str, reason: str) -> None:
    """A dispatcher sends the order with a courier of their choosing instead of the cheapest quote.

    The account must be one of the hospital's enabled accounts and able to make the trip (checked when it
    is booked). An order left without a courier goes back to dispatch at once; one not yet dispatched
    keeps the pick for when it is.
    """
    account = session.get(CourierAccount, account_id)
    if account is None or account.hospital_id != order.hospital_id or not account.enabled:
        raise CourierNotChoosable(
            "Akun kurir tidak ditemukan atau nonaktif / courier account not found or disabled"
        )
    if order.status not in COURIER_CHOOSABLE:
        raise CourierNotChoosable(
            f"Pesanan berstatus {order.status.value}; kurir tidak dapat diganti / "
            f"the order is {order.status.value}; its courier cannot be changed now"
        )
    order.courier_override_account_id = account_id
    orders_service.add_event(
        session,
        order,
        "staff",
        f"Courier chosen by hand: {account.courier} ({account.label}); {reason}",
        actor=actor,
        data={"account_id": account_id, "reason": reason},
    )
    if order.status == S.NO_COURIER:
        orders_service.transition(
            session, order, S.READY, actor=actor, detail="Sent back to dispatch by staff"
        )
        enqueue(session, orders_service.DISPATCH_TOPIC, {"order_id": order.id}, hospital_id=order.hospital_id)


def quote_reference(order: Order) -> str:
    """Quotes are asked before any attempt exists; couriers that echo a reference see this one."""
    return f"GCG{order.id}Q"


def delivery_request(session: Session, order: Order, reference: str) -> DeliveryRequest:
    hospital = session.get(Hospital, order.hospital_id)
    patient = session.get(Patient, order.patient_id)
    assert hospital is not None and patient is not None
    assert order.dest_lat is not None and order.dest_lon is not None
    rt_rw = f"RT {patient.rt} RW {patient.rw}" if patient.rt and patient.rw else ""
    address = ", ".join(part for part in (patient.address_text, rt_rw) if part)
    return DeliveryRequest(
        reference=reference,
        origin=Place(
            name=hospital.name,
            phone=hospital.phone,
            address=hospital.address,
            lat=hospital.lat,
            lon=hospital.lon,
            note="Ambil di loket farmasi rawat jalan",
            contact_name="Instalasi Farmasi",
        ),
        destination=Place(
            name=patient.name,
            phone=patient.phone_e164 or "",
            address=address,
            lat=order.dest_lat,
            lon=order.dest_lon,
            note=f"Desa/Kel. kode {order.geocode_code or '-'}; hubungi pasien sebelum tiba",
            contact_name=patient.name,
        ),
        item_description=PARCEL_DESCRIPTION,
        cold_chain=COLD_CHAIN in order.flags,
    )


def fall_back(session: Session, order: Order, reason: str) -> None:
    """Ask the next courier, or hand the order to a human when every courier has said no."""
    if not can_transition(order.status, S.READY):
        return
    orders_service.transition(session, order, S.READY, detail=reason)
    if not courier_candidates(session, order):
        no_courier(session, order, "No enabled courier left that can take this order")
        return
    enqueue(session, orders_service.DISPATCH_TOPIC, {"order_id": order.id}, hospital_id=order.hospital_id)


def no_courier(session: Session, order: Order, detail: str) -> None:
    """Every courier has been asked: a person takes over, warned through the console's problems queue."""
    orders_service.add_event(
        session, order, "alert", f"No courier left for this order; book it by hand or call one: {detail}"
    )
    orders_service.transition(session, order, S.NO_COURIER, detail=detail)


def give_back_after_timeout(session: Session, order: Order, attempt: BookingAttempt, minutes: float) -> None:
    """A booking no driver took within the hospital's allocation timeout: cancelled at the courier (through
    the outbox) and the order falls back, as if the courier had said no_driver."""
    reason = f"no driver within {minutes:g} min"
    attempt.error = f"{GIVEN_BACK_REASON}: {reason}"
    attempt.updated_at = utcnow()
    _stand_down(session, order, attempt)
    fall_back(session, order, f"{attempt.courier}: {reason}")


def _stand_down(session: Session, order: Order, attempt: BookingAttempt) -> None:
    """Cancel the booking at the courier (through the outbox) and take it off the order: its late reports,
    a driver assigned after all, are then a stray booking's, cancelled, never moving the order."""
    enqueue(
        session,
        orders_service.CANCEL_BOOKING_TOPIC,
        {"attempt_id": attempt.id},
        hospital_id=order.hospital_id,
    )
    order.current_attempt_id = None


# Where staff may send an order back to dispatch: left without a courier, or booked but not yet picked up.
REBOOKABLE = frozenset({S.NO_COURIER, S.BOOKING, S.COURIER_ASSIGNED})


class NotRebookable(ValueError):
    """The order is not waiting for a courier, or its driver already has the medicine."""


def rebook(session: Session, order: Order, actor: str, reason: str) -> None:
    """Staff send the order back to dispatch: a driver who does not come, a courier left without answer.

    A booking the courier still holds is cancelled there first, through the outbox, so two drivers never
    ride. Couriers already tried are not asked again (an account staff enabled since is); to use one of them
    again, staff choose it by hand.
    """
    if order.status not in REBOOKABLE:
        raise NotRebookable(
            f"Pesanan berstatus {order.status.value}; tidak dapat dipesan ulang / "
            f"the order is {order.status.value}; it cannot be re-booked now"
        )
    orders_service.add_event(session, order, "staff", f"Re-booked by staff: {reason}", actor=actor)
    attempt = session.get(BookingAttempt, order.current_attempt_id) if order.current_attempt_id else None
    if order.status != S.NO_COURIER and attempt is not None and attempt.status in ACTIVE_ATTEMPT:
        _stand_down(session, order, attempt)
    fall_back(session, order, f"Sent back to dispatch by {actor}")


_INT4_MAX = 2**31 - 1


def _storable(field: str, value: Any) -> Any:
    """A courier's value as the attempt's column can hold it, so one odd field cannot block a status report.

    Text is cut to the column; a link that does not fit is dropped rather than cut into a wrong link, and a
    price outside the column's range is dropped.
    """
    if isinstance(value, int):
        return value if 0 <= value <= _INT4_MAX else None
    length = getattr(sa_inspect(BookingAttempt).columns[field].type, "length", None)
    if not isinstance(value, str) or length is None or len(value) <= length:
        return value
    return None if field == "tracking_url" else value[:length].rstrip()


@dataclass(frozen=True)
class EventOutcome:
    applied: bool
    reason: str


def _cancel_stray_booking(
    session: Session, order: Order, attempt: BookingAttempt, event: CourierEvent, summary: str
) -> EventOutcome:
    """A courier is still working a booking the order no longer uses: stop it before a second driver rides."""
    orders_service.add_event(
        session,
        order,
        "alert",
        f"{summary}: this booking is no longer in charge of the order; asking {attempt.courier} to cancel it",
        data={"event_id": event.event_id, "attempt_id": attempt.id},
    )
    if event.status in CANCELLABLE_COURIER_STATUSES:
        enqueue(
            session,
            orders_service.CANCEL_BOOKING_TOPIC,
            {"attempt_id": attempt.id},
            hospital_id=order.hospital_id,
        )
    return EventOutcome(False, "stray booking")


def apply_courier_event(session: Session, attempt: BookingAttempt, event: CourierEvent) -> EventOutcome:
    """Apply one courier report in event-time order; duplicates and stale reports change nothing."""
    order = orders_repository.get_order_for_update(session, attempt.order_id)
    assert order is not None
    summary = f"{attempt.courier}: {event.provider_status}"
    if attempt.last_event_at is not None and event.occurred_at < attempt.last_event_at:
        orders_service.add_event(
            session, order, "courier", f"{summary} (stale, ignored)", data={"event_id": event.event_id}
        )
        return EventOutcome(False, "stale")
    if event.status == CourierStatus.UNKNOWN:
        orders_service.add_event(
            session,
            order,
            "alert",
            f"{summary}: unknown courier status; order unchanged",
            data=dict(event.raw),
        )
        return EventOutcome(False, "unknown status")
    pin_checked = event.status == CourierStatus.DELIVERED and _pin_required(session, order, attempt)
    if pin_checked and not _pin_matches(order, event):
        orders_service.add_event(
            session,
            order,
            "alert",
            f"{summary}: handover PIN missing or wrong; not marked delivered",
            data={"event_id": event.event_id},
        )
        return EventOutcome(False, "handover PIN wrong")
    attempt.last_event_at = event.occurred_at
    attempt.provider_status = event.provider_status
    attempt.updated_at = utcnow()
    for field in ("driver_name", "driver_phone", "vehicle_plate", "tracking_url", "price_idr"):
        value = _storable(field, getattr(event, field))
        if value:
            setattr(attempt, field, value)
    if event.status in ATTEMPT_OUTCOME:
        attempt.status = ATTEMPT_OUTCOME[event.status]
    is_current = order.current_attempt_id == attempt.id
    if event.status in GIVE_BACK:
        was_live = attempt.status in ACTIVE_ATTEMPT
        if was_live:
            attempt.status = GIVE_BACK[event.status]
            attempt.error = f"{GIVEN_BACK_REASON}: {event.provider_status}"[:500]
        orders_service.add_event(session, order, "courier", summary, data={"event_id": event.event_id})
        # Only the report that ends a live booking moves the order: a second one (a cancel after no_driver,
        # a resend under a new id) must not send a no_courier order round the fallback again.
        if is_current and was_live:
            fall_back(session, order, f"{attempt.courier} gave the job back ({event.provider_status})")
        return EventOutcome(is_current and was_live, "given back")
    if (not is_current or order.status in TERMINAL) and attempt.status in ACTIVE_ATTEMPT:
        return _cancel_stray_booking(session, order, attempt, event, summary)
    if is_current and event.status == CourierStatus.EN_ROUTE_DROPOFF and order.status == S.PICKED_UP:
        assert order.id is not None
        # Heading to the patient after pick-up: remind them of the PIN, once per booking.
        notify_service.queue_sms(
            session,
            order.id,
            order.hospital_id,
            "arriving",
            dedupe_key=f"order{order.id}:arriving:{attempt.id}",
        )
    target = COURIER_STATUS_TO_ORDER.get(event.status)
    if not is_current or target is None or target == order.status or not can_transition(order.status, target):
        orders_service.add_event(session, order, "courier", summary, data={"event_id": event.event_id})
        return EventOutcome(False, "no state change")
    evidence = _event_evidence(event, pin_checked=pin_checked)
    if target in ON_THE_WAY:
        attempt.eta_at = _arrival(session, order, attempt, target, min(event.occurred_at, utcnow()))
        # The timeline keeps every estimate, to hold against the delivery time when tuning the speed.
        evidence["eta_at"] = attempt.eta_at.isoformat()
    orders_service.transition(session, order, target, detail=summary, actor=attempt.courier, data=evidence)
    return EventOutcome(True, "applied")


def _arrival(
    session: Session, order: Order, attempt: BookingAttempt, target: OrderStatus, reported_at: datetime
) -> datetime:
    """The ETA once a driver is assigned (to the pharmacy, then to the door) or has picked the parcel up
    (the ride alone, from the pick-up), by the courier's own road distance for the trip when it quoted one.

    Until pick-up the booking's ``eta_at`` can only hold the courier's quoted ETA (ours is first set here),
    and it is preferred; at pick-up it is not, since it assumed a pick-up time that is now known.
    """
    hospital = session.get(Hospital, order.hospital_id)
    assert hospital is not None
    picked_up = target == S.PICKED_UP
    ours = estimated_arrival(
        attempt.quoted_distance_km or road_km(session, order),
        dispatch_policy(hospital),
        reported_at,
        picked_up=picked_up,
    )
    return preferred_arrival(None if picked_up else attempt.eta_at, ours, reported_at)


def _pin_required(session: Session, order: Order, attempt: BookingAttempt) -> bool:
    """Couriers whose drivers take the patient's PIN must report the right one; for the others (GoSend has
    no PIN field) the proof-of-delivery photo and the patient's confirmation stand instead."""
    account = session.get(CourierAccount, attempt.account_id)
    assert account is not None
    return (
        order.handover_pin is not None
        and build_adapter(account.courier, account.settings).capabilities.handover_pin
    )


def _pin_matches(order: Order, event: CourierEvent) -> bool:
    assert order.handover_pin is not None
    given = (event.handover_pin or "").strip()
    return hmac.compare_digest(given.encode(), order.handover_pin.encode())


def _event_evidence(event: CourierEvent, *, pin_checked: bool) -> dict[str, Any]:
    """What the timeline keeps of a report: its id, and the handover evidence when there is some."""
    evidence: dict[str, Any] = {"event_id": event.event_id}
    if pin_checked:
        evidence["handover_pin_checked"] = True
    if event.proof_of_delivery_url:
        evidence["proof_of_delivery_url"] = event.proof_of_delivery_url
    if event.receiver_name:
        evidence["receiver_name"] = event.receiver_name
    return evidence
