"""Console pages: log in, work the queues, act on an order, read the audit log.

Forms carry a CSRF token bound to the session; every action is role-checked, scoped to the staff's hospital
(another hospital's id reads as not found) and written to the audit log in its own transaction.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Final, get_args

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from dispatch.audit import repository as audit_repository
from dispatch.audit import service as audit
from dispatch.auth import service as auth_service
from dispatch.auth.api import SESSION_COOKIE, count_failed_login, login_wait
from dispatch.auth.models import Role, StaffUser
from dispatch.console import repository
from dispatch.console.admin import router as admin_router
from dispatch.console.forms import (
    ConsoleRoute,
    OptionalStaff,
    Staff,
    csrf_token,
    form_role,
    found,
    not_found,
    page_role,
    to_login,
)
from dispatch.core.db import SessionDep
from dispatch.core.settings import settings
from dispatch.dispatching import service as dispatching_service
from dispatch.dispatching.eta import shown_eta
from dispatch.dispatching.locating import LocationRefused, confirm_location
from dispatch.dispatching.models import BookingAttempt
from dispatch.geocoding import maps
from dispatch.geocoding.address import parse_address
from dispatch.hospitals import repository as hospitals_repository
from dispatch.hospitals.models import Hospital
from dispatch.inbox import repository as inbox_repository
from dispatch.inbox.models import InboxStatus
from dispatch.intake import service as intake_service
from dispatch.notify import repository as notify_repository
from dispatch.notify import service as notify_service
from dispatch.notify.channels import Channel
from dispatch.notify.models import MessageOptOut
from dispatch.orders import repository as orders_repository
from dispatch.orders import service as orders_service
from dispatch.orders.api import OverrideRequest, order_detail, order_public
from dispatch.orders.models import Order, Patient
from dispatch.orders.state_machine import CANCELLABLE, TERMINAL, OrderStatus, TransitionRefused
from dispatch.web.templating import templates
from hospital_adapter.canonical import SourceInputError

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False, route_class=ConsoleRoute)
router.include_router(admin_router)

S = OrderStatus

# The queues staff work, by the order states in them; "problems" adds orders with an unanswered alert.
QUEUES: Final[dict[str, frozenset[OrderStatus]]] = {
    "awaiting_release": frozenset({S.AWAITING_RELEASE}),
    "active": frozenset({S.RELEASED, S.READY, S.BOOKING, S.COURIER_ASSIGNED, S.PICKED_UP}),
    "problems": frozenset({S.NO_COURIER, S.DELIVERY_FAILED}),
}
AUDIT_PAGE_SIZE: Final = 50
CHANNELS: Final[tuple[Channel, ...]] = get_args(Channel)
JUSTIFICATION_NEEDED: Final = (
    "Tulis alasan minimal 10 karakter / give a justification of at least 10 characters"
)

# Who alone may post each form (or read the audit log), in Bahasa Indonesia and English.
LOCATOR_REFUSAL: Final = (
    "Hanya dispatcher yang dapat menentukan lokasi / only dispatchers may set the location"
)
COURIER_CHOOSER_REFUSAL: Final = (
    "Hanya dispatcher yang dapat memilih kurir / only dispatchers may choose the courier"
)
REBOOKER_REFUSAL: Final = "Hanya dispatcher yang dapat memesan ulang kurir / only dispatchers may re-book"
ALERT_HANDLER_REFUSAL: Final = (
    "Hanya dispatcher yang dapat menandai peringatan / only dispatchers may mark alerts as handled"
)
RELEASER_REFUSAL: Final = "Hanya apoteker yang dapat merilis / only pharmacists may release"
CANCELLER_REFUSAL: Final = "Hanya apoteker yang dapat membatalkan / only pharmacists may cancel"
REPROCESSOR_REFUSAL: Final = "Hanya apoteker yang dapat memproses ulang / only pharmacists may re-process"
PHONE_FIXER_REFUSAL: Final = (
    "Hanya apoteker yang dapat memperbaiki nomor HP / only pharmacists may fix the phone number"
)
OVERRIDER_REFUSAL: Final = (
    "Hanya apoteker yang dapat mengesampingkan kelayakan / only pharmacists may override eligibility"
)
MESSAGING_KEEPER_REFUSAL: Final = (
    "Hanya apoteker atau dispatcher yang dapat mengubah izin pesan pasien / "
    "only pharmacists and dispatchers may change the patient's messaging"
)
AUDIT_READER_REFUSAL: Final = "Hanya admin yang dapat melihat log audit / only admins may read the audit log"

Locator = Annotated[StaffUser, Depends(form_role(Role.DISPATCHER, refusal=LOCATOR_REFUSAL))]
CourierChooser = Annotated[StaffUser, Depends(form_role(Role.DISPATCHER, refusal=COURIER_CHOOSER_REFUSAL))]
Rebooker = Annotated[StaffUser, Depends(form_role(Role.DISPATCHER, refusal=REBOOKER_REFUSAL))]
AlertHandler = Annotated[StaffUser, Depends(form_role(Role.DISPATCHER, refusal=ALERT_HANDLER_REFUSAL))]
Releaser = Annotated[StaffUser, Depends(form_role(Role.PHARMACIST, refusal=RELEASER_REFUSAL))]
Canceller = Annotated[StaffUser, Depends(form_role(Role.PHARMACIST, refusal=CANCELLER_REFUSAL))]
Reprocessor = Annotated[StaffUser, Depends(form_role(Role.PHARMACIST, refusal=REPROCESSOR_REFUSAL))]
PhoneFixer = Annotated[StaffUser, Depends(form_role(Role.PHARMACIST, refusal=PHONE_FIXER_REFUSAL))]
Overrider = Annotated[StaffUser, Depends(form_role(Role.PHARMACIST, refusal=OVERRIDER_REFUSAL))]
MessagingKeeper = Annotated[
    StaffUser, Depends(form_role(Role.PHARMACIST, Role.DISPATCHER, refusal=MESSAGING_KEEPER_REFUSAL))
]
AuditReader = Annotated[StaffUser, Depends(page_role(Role.ADMIN, refusal=AUDIT_READER_REFUSAL))]


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, error: str = "") -> HTMLResponse:
    return templates.TemplateResponse(request, "login.html", {"error": error})


@router.post("/login")
def login(
    request: Request, session: SessionDep, username: Annotated[str, Form()], password: Annotated[str, Form()]
) -> Response:
    wait = login_wait(request)
    if wait is not None:
        return templates.TemplateResponse(
            request, "login.html", {"error": "throttled"}, status_code=429, headers={"Retry-After": str(wait)}
        )
    try:
        _user, token = auth_service.login(session, username, password)
    except auth_service.LoginRefused:
        session.commit()
        count_failed_login(request)
        return templates.TemplateResponse(request, "login.html", {"error": "failed"}, status_code=401)
    session.commit()
    response = RedirectResponse("/console", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=settings.env == "production",
        max_age=settings.staff_session_hours * 3600,
    )
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep, csrf: Annotated[str, Form()]) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token and hmac.compare_digest(csrf, csrf_token(request)):
        auth_service.logout(session, token)
        session.commit()
    response = to_login()
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("", response_class=HTMLResponse)
def orders_page(
    request: Request, session: SessionDep, user: Staff, status: str = "", queue: str = ""
) -> Response:
    """Every order (filtered by status), or one of the queues: awaiting release, active, problems."""
    status_filter = OrderStatus(status) if status in OrderStatus.__members__.values() else None
    queue = queue if queue in QUEUES else ""
    if queue == "problems":
        orders, count = _problem_orders(session, user.hospital_id)
    elif queue:
        orders, count = repository.orders_in(session, user.hospital_id, QUEUES[queue])
    else:
        orders, count = orders_repository.list_orders(
            session, user.hospital_id, status=status_filter, limit=200, offset=0
        )
    context = {
        "user": user,
        "orders": [order_public(session, o) for o in orders],
        "count": count,
        "queue": queue,
        "queue_counts": _queue_counts(session, user.hospital_id),
        "quarantined": repository.quarantined_count(session, user.hospital_id),
        "status": status_filter,
        "statuses": list(OrderStatus),
        "csrf": csrf_token(request),
        "can_release": auth_service.may(user, Role.PHARMACIST),
        "flash": request.query_params.get("flash", ""),
    }
    return templates.TemplateResponse(request, "orders.html", context)


def _problem_orders(session: Session, hospital_id: int) -> tuple[Sequence[Order], int]:
    """No courier, failed deliveries, and any order still under way with an alert nobody answered."""
    stuck, _ = repository.orders_in(session, hospital_id, QUEUES["problems"])
    alerted, _ = repository.orders_with_open_alerts(session, hospital_id)
    merged = {o.id: o for o in [*stuck, *alerted]}
    rows = sorted(merged.values(), key=lambda o: (o.status_changed_at, o.id or 0))
    return rows, len(rows)


def _queue_counts(session: Session, hospital_id: int) -> dict[str, int]:
    counts = {name: repository.orders_in(session, hospital_id, states)[1] for name, states in QUEUES.items()}
    counts["problems"] = _problem_orders(session, hospital_id)[1]
    counts["needs_address"] = repository.orders_in(session, hospital_id, {S.NEEDS_ADDRESS})[1]
    return counts


@router.get("/orders/{order_id}", response_class=HTMLResponse)
def order_page(order_id: int, request: Request, session: SessionDep, user: Staff) -> Response:
    """One order: its timeline (alerts included, such as an unknown courier status), handover, bookings,
    tracking link, and a map of its kecamatan; the actions the staff's role allows in the order's state."""
    order = found(orders_repository.get_order(session, user.hospital_id, order_id))
    return _order_page(request, session, user, order)


@router.get("/orders/{order_id}/live", response_class=HTMLResponse)
def order_live(order_id: int, request: Request, session: SessionDep, user: OptionalStaff) -> Response:
    """The part of the order page that changes on its own (status, handover, timeline, bookings), fetched
    every few seconds by the page's script; the rest of the page, and a half-typed form, stay as they are."""
    if user is None:
        return Response("Sesi berakhir / session ended", status_code=401)
    order = found(orders_repository.get_order(session, user.hospital_id, order_id))
    return templates.TemplateResponse(request, "_order_live.html", _live_context(session, order))


@dataclass(frozen=True)
class Handover:
    """How the parcel reached the patient, from the courier's delivered report and the patient's own word."""

    delivered_at: datetime | None
    receiver: str | None
    proof_url: str | None
    confirmed_at: datetime | None


def _handover(session: Session, order: Order) -> Handover | None:
    if order.status != S.DELIVERED or order.id is None:
        return None
    delivered = [e for e in orders_repository.events_for(session, order.id) if e.to_status == S.DELIVERED]
    data = delivered[-1].data if delivered else {}
    proof = data.get("proof_of_delivery_url")
    return Handover(
        delivered_at=delivered[-1].at if delivered else None,
        receiver=data.get("receiver_name"),
        # Only a web link becomes a link: a courier's report must not put script into a staff page.
        proof_url=proof if isinstance(proof, str) and proof.startswith(("https://", "http://")) else None,
        confirmed_at=order.receipt_confirmed_at,
    )


def _live_context(session: Session, order: Order) -> dict[str, object]:
    patient = session.get(Patient, order.patient_id)
    assert patient is not None
    attempt = session.get(BookingAttempt, order.current_attempt_id) if order.current_attempt_id else None
    return {
        "order": order_detail(session, order),
        "eta": shown_eta(order, attempt),
        "handover": _handover(session, order),
        "patient_name": patient.name,
        "open_alert": repository.has_open_alert(session, order),
    }


def _order_page(
    request: Request,
    session: SessionDep,
    user: StaffUser,
    order: Order,
    *,
    error: str = "",
    status_code: int = 200,
) -> Response:
    dispatcher = auth_service.may(user, Role.DISPATCHER)
    pharmacist = auth_service.may(user, Role.PHARMACIST)
    can_choose = dispatcher and order.status in dispatching_service.COURIER_CHOOSABLE
    can_locate = dispatcher and order.status == S.NEEDS_ADDRESS
    hospital = session.get(Hospital, order.hospital_id)
    patient = session.get(Patient, order.patient_id)
    assert hospital is not None and patient is not None
    area = maps.area_for((order.kecamatan_code, patient.district_code), hospital.kabupaten_code)
    live = _live_context(session, order)
    eligibility_refusal = _eligibility_refusal(order)
    context = {
        **live,
        "user": user,
        "csrf": csrf_token(request),
        "can_release": pharmacist and order.status == S.AWAITING_RELEASE,
        "can_cancel": pharmacist and order.status in CANCELLABLE,
        "invalid_phone": orders_service.INVALID_PHONE in order.flags,
        "can_fix_phone": pharmacist and order.status not in TERMINAL,
        "eligibility_refusal": eligibility_refusal,
        "can_override": pharmacist and eligibility_refusal is not None,
        "messaging": _messaging(session, patient),
        "can_set_messaging": auth_service.may(user, Role.PHARMACIST, Role.DISPATCHER),
        "can_rebook": dispatcher and order.status in dispatching_service.REBOOKABLE,
        "can_acknowledge": dispatcher and bool(live["open_alert"]),
        "courier_accounts": (
            hospitals_repository.enabled_courier_accounts(session, user.hospital_id) if can_choose else []
        ),
        "flash": request.query_params.get("flash", ""),
        "map": _map(
            area, _pins(hospital, [order], links=False), highlight=order.geocode_code, svg_id="order-map"
        ),
        "can_locate": can_locate,
        "address": patient.address_text,
        "dusun": (parse_address(patient.address_text).dusun or "") if can_locate else "",
        # Every desa of the service area: the kecamatan on record may be the wrong one.
        "desa_groups": maps.desa_choices(hospital.kabupaten_code) if can_locate else [],
        "guessed_desa": order.geocode_code,
        "error": error,
    }
    return templates.TemplateResponse(request, "order.html", context, status_code=status_code)


def _eligibility_refusal(order: Order) -> str | None:
    """Why the eligibility rules turned the patient down, while a pharmacist may still override it."""
    if order.status != S.REJECTED or order.rejection_kind != "eligibility":
        return None
    return str(order.eligibility.get("reason") or "-")


def _messaging(session: Session, patient: Patient) -> list[tuple[Channel, str, MessageOptOut | None]] | None:
    """Each channel, its name, and the patient's opt-out on it if any; None for a patient without a valid
    number."""
    if patient.phone_e164 is None:
        return None
    phone = patient.phone_e164
    return [
        (
            channel,
            notify_service.CHANNEL_NAMES[channel],
            notify_repository.get_opt_out(session, patient.hospital_id, phone, channel),
        )
        for channel in CHANNELS
    ]


def _pins(hospital: Hospital, orders: list[Order], *, links: bool) -> list[maps.Pin]:
    pins = [maps.Pin(hospital.lat, hospital.lon, hospital.name, "hospital")]
    pins.extend(
        maps.Pin(
            o.dest_lat,
            o.dest_lon,
            f"#{o.id} ({o.geocode_level or '-'})",
            href=f"/console/orders/{o.id}" if links else None,
        )
        for o in orders
        if o.dest_lat is not None and o.dest_lon is not None
    )
    return pins


def _map(area: str, pins: list[maps.Pin], *, highlight: str | None = None, svg_id: str) -> str | None:
    """The SVG, or None where no polygons are shipped for the hospital's area (the page simply has no map)."""
    if not maps.has_map(area):
        return None
    return maps.area_map(area, pins, highlight=highlight, svg_id=svg_id)


def _to_order(order_id: int, flash: str) -> RedirectResponse:
    return RedirectResponse(f"/console/orders/{order_id}?flash={flash}", status_code=303)


@router.post("/orders/{order_id}/location")
def locate_order(
    order_id: int,
    request: Request,
    session: SessionDep,
    user: Locator,
    lat: Annotated[str, Form(max_length=32)] = "",
    lon: Annotated[str, Form(max_length=32)] = "",
    desa: Annotated[str, Form(max_length=16)] = "",
    dusun: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Settles an address in doubt: a pin placed on the map (or typed), or a desa from the list, whose centroid is
    used and whose dusun the courier is told."""
    order = found(orders_repository.get_order(session, user.hospital_id, order_id, for_update=True))
    if order.status != S.NEEDS_ADDRESS:
        return _to_order(order_id, "location_not_needed")
    hospital = session.get(Hospital, order.hospital_id)
    assert hospital is not None
    try:
        point = maps.point_from_form(lat, lon, desa, hospital.kabupaten_code)
        confirm_location(session, order, point[0], point[1], by="staff", actor=user.username)
    except (maps.UnreadablePoint, LocationRefused) as exc:
        session.rollback()
        reloaded = orders_repository.get_order(session, user.hospital_id, order_id)
        assert reloaded is not None
        return _order_page(request, session, user, reloaded, error=str(exc), status_code=422)
    if desa and dusun.strip():
        _note_dusun(session, order, dusun.strip(), user.username)
    audit.record(
        session,
        user,
        "order.set_location",
        "order",
        order_id,
        f"desa {desa}" if desa else "pin",
        {"lat": point[0], "lon": point[1]},
    )
    session.commit()
    return _to_order(order_id, "located")


def _note_dusun(session: SessionDep, order: Order, dusun: str, actor: str) -> None:
    """A desa centroid is kilometres from the door: the dusun goes into the patient's address, which the
    courier's drop-off carries, unless the address already names it."""
    patient = session.get(Patient, order.patient_id)
    assert patient is not None
    if dusun.casefold() not in patient.address_text.casefold():
        patient.address_text = f"Dsn. {dusun}, {patient.address_text}".rstrip(", ")[:500]
    orders_service.add_event(session, order, "staff", f"Dusun: {dusun}", actor=actor)


@router.get("/needs-address", response_class=HTMLResponse)
def needs_address_page(request: Request, session: SessionDep, user: Staff) -> Response:
    """The queue of orders waiting for a position, with their best guesses on a map of the hospital's area."""
    hospital = session.get(Hospital, user.hospital_id)
    assert hospital is not None
    orders, count = orders_repository.list_orders(
        session, user.hospital_id, status=S.NEEDS_ADDRESS, limit=200, offset=0
    )
    patients = {o.id: session.get(Patient, o.patient_id) for o in orders}
    context = {
        "user": user,
        "rows": [(order_public(session, o), patients[o.id], o) for o in orders],
        "count": count,
        "map": _map(hospital.kabupaten_code, _pins(hospital, list(orders), links=True), svg_id="queue-map"),
    }
    return templates.TemplateResponse(request, "needs_address.html", context)


@router.post("/orders/{order_id}/courier")
def choose_courier(
    order_id: int,
    session: SessionDep,
    user: CourierChooser,
    account_id: Annotated[int, Form()],
    reason: Annotated[str, Form(max_length=300)],
) -> Response:
    order = found(orders_repository.get_order(session, user.hospital_id, order_id, for_update=True))
    reason = reason.strip() or "-"
    try:
        dispatching_service.choose_courier_by_hand(session, order, account_id, user.username, reason)
    except dispatching_service.CourierNotChoosable:
        return _to_order(order_id, "courier_refused")
    audit.record(session, user, "order.choose_courier", "order", order_id, reason, {"account_id": account_id})
    session.commit()
    return _to_order(order_id, "courier_chosen")


@router.post("/orders/{order_id}/rebook")
def rebook(
    order_id: int,
    session: SessionDep,
    user: Rebooker,
    reason: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """Back to dispatch: an order left without a courier, or one whose driver has not picked it up yet."""
    order = found(orders_repository.get_order(session, user.hospital_id, order_id, for_update=True))
    reason = reason.strip() or "-"
    try:
        dispatching_service.rebook(session, order, user.username, reason)
    except dispatching_service.NotRebookable:
        return _to_order(order_id, "rebook_refused")
    audit.record(session, user, "order.rebook", "order", order_id, reason)
    session.commit()
    return _to_order(order_id, "rebook_none_left" if order.status == S.NO_COURIER else "rebooked")


@router.post("/orders/{order_id}/acknowledge")
def acknowledge_alerts(
    order_id: int,
    session: SessionDep,
    user: AlertHandler,
    note: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """A person has looked at the order's alerts (checked the courier's portal, called the driver): the order
    leaves the problems queue until the next alert."""
    order = found(orders_repository.get_order(session, user.hospital_id, order_id, for_update=True))
    if not repository.has_open_alert(session, order):
        return _to_order(order_id, "no_alert")
    note = note.strip() or "-"
    orders_service.add_event(session, order, "staff", f"Alerts handled: {note}", actor=user.username)
    audit.record(session, user, "order.acknowledge_alerts", "order", order_id, note)
    session.commit()
    return _to_order(order_id, "acknowledged")


@router.post("/orders/{order_id}/release")
def release(
    order_id: int,
    session: SessionDep,
    user: Releaser,
) -> Response:
    order = found(orders_repository.get_order(session, user.hospital_id, order_id, for_update=True))
    try:
        orders_service.release(session, order, user)
    except TransitionRefused:
        return RedirectResponse("/console?flash=refused", status_code=303)
    except orders_service.ReleaseRefused:
        # Something on the order must be fixed first (the patient's phone): its page has the form for it.
        return _to_order(order_id, "phone_needed")
    audit.record(session, user, "order.release", "order", order_id)
    session.commit()
    return RedirectResponse("/console?flash=released", status_code=303)


@router.post("/orders/{order_id}/cancel")
def cancel(
    order_id: int,
    request: Request,
    session: SessionDep,
    user: Canceller,
    reason: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """A pharmacist cancels with a reason, which the timeline keeps; a booked courier is told to stand down."""
    order = found(orders_repository.get_order(session, user.hospital_id, order_id, for_update=True))
    if not reason.strip():
        return _order_page(
            request, session, user, order, error="Tulis alasan pembatalan / give a reason", status_code=422
        )
    try:
        orders_service.cancel(session, order, user.username, reason.strip())
    except TransitionRefused:
        return _to_order(order_id, "cancel_refused")
    audit.record(session, user, "order.cancel", "order", order_id, reason.strip())
    session.commit()
    return _to_order(order_id, "cancelled")


@router.post("/orders/{order_id}/phone")
def fix_phone(
    order_id: int,
    request: Request,
    session: SessionDep,
    user: PhoneFixer,
    phone: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Corrects the patient's number the hospital sent wrong; an order held for an invalid one may then be
    released."""
    order = found(orders_repository.get_order(session, user.hospital_id, order_id, for_update=True))
    try:
        orders_service.set_patient_phone(session, order, phone, user.username)
    except ValueError as exc:
        return _order_page(request, session, user, order, error=str(exc), status_code=422)
    # The number itself stays on the patient's record, not in a log every admin reads.
    audit.record(session, user, "order.set_phone", "order", order_id)
    session.commit()
    return _to_order(order_id, "phone_fixed")


@router.post("/orders/{order_id}/override-eligibility")
def override_eligibility(
    order_id: int,
    request: Request,
    session: SessionDep,
    user: Overrider,
    justification: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Deliver to a patient the eligibility rules turned down, for the reason the pharmacist writes (kept on
    the order); a restricted drug cannot be overridden."""
    order = found(orders_repository.get_order(session, user.hospital_id, order_id, for_update=True))
    try:
        checked = OverrideRequest(justification=justification.strip())
    except ValidationError:
        return _order_page(request, session, user, order, error=JUSTIFICATION_NEEDED, status_code=422)
    try:
        orders_service.override_eligibility(session, order, user, checked.justification)
    except TransitionRefused:
        return _to_order(order_id, "override_refused")
    audit.record(session, user, "order.override_eligibility", "order", order_id, checked.justification)
    session.commit()
    return _to_order(order_id, "eligibility_overridden")


@router.post("/orders/{order_id}/messaging")
def set_messaging(
    order_id: int,
    session: SessionDep,
    user: MessagingKeeper,
    channel: Annotated[Channel, Form()],
    allowed: Annotated[bool, Form()],
) -> Response:
    """What the patient told the hospital: no more SMS (or WhatsApp), or messages again. It is kept by number,
    so it holds for the patient's other orders too, until the patient or staff change it."""
    order = found(orders_repository.get_order(session, user.hospital_id, order_id, for_update=True))
    patient = session.get(Patient, order.patient_id)
    assert patient is not None
    if patient.phone_e164 is None:
        return _to_order(order_id, "no_phone")
    phone = patient.phone_e164
    if allowed:
        changed = notify_service.opt_in(session, order.hospital_id, phone, channel)
    else:
        changed = not notify_service.is_opted_out(session, order.hospital_id, phone, channel)
        notify_service.opt_out(
            session,
            order.hospital_id,
            phone,
            channel,
            source=f"staff:{user.username}"[:32],
            data={"by": user.username},
        )
    if not changed:
        return _to_order(order_id, "messaging_unchanged")
    name = notify_service.CHANNEL_NAMES[channel]
    detail = (
        f"{name} ke pasien aktif lagi / {name} to the patient resumed"
        if allowed
        else f"Pasien tidak mau menerima {name} lagi / the patient wants no more {name}"
    )
    orders_service.add_event(session, order, "staff", detail, actor=user.username, data={"channel": channel})
    action = "messaging.opt_in" if allowed else "messaging.opt_out"
    audit.record(session, user, action, "order", order_id, name, {"channel": channel})
    session.commit()
    return _to_order(order_id, "messaging_on" if allowed else "messaging_off")


@router.get("/inbox", response_class=HTMLResponse)
def inbox_page(request: Request, session: SessionDep, user: Staff) -> Response:
    """The quarantine: inbound messages refused with their reason, each re-runnable after a fix."""
    messages = inbox_repository.list_for_hospital(
        session, user.hospital_id, status=InboxStatus.REJECTED, limit=200
    )
    context = {
        "user": user,
        "messages": messages,
        "csrf": csrf_token(request),
        "can_reprocess": auth_service.may(user, Role.PHARMACIST),
        "flash": request.query_params.get("flash", ""),
    }
    return templates.TemplateResponse(request, "inbox.html", context)


@router.post("/inbox/{inbox_id}/reprocess")
def reprocess_message(
    inbox_id: int,
    session: SessionDep,
    user: Reprocessor,
) -> Response:
    hospital = session.get(Hospital, user.hospital_id)
    assert hospital is not None
    try:
        outcomes = intake_service.reprocess(inbox_id, hospital)
    except LookupError:
        return not_found("Pesan tidak ditemukan / message not found")
    except intake_service.SourceUnreachable:
        return RedirectResponse("/console/inbox?flash=unreachable", status_code=303)
    except (intake_service.NotReprocessable, SourceInputError):
        return RedirectResponse("/console/inbox?flash=still_refused", status_code=303)
    orders = [o.order_id for o in outcomes]
    audit.record(session, user, "inbox.reprocess", "inbox_message", inbox_id, data={"orders": orders})
    session.commit()
    return RedirectResponse("/console/inbox?flash=reprocessed", status_code=303)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    session: SessionDep,
    user: AuditReader,
    page: int = 1,
) -> Response:
    """Who did what, newest first, a page at a time; admins only."""
    page = max(page, 1)
    entries, count = audit_repository.list_for_hospital(
        session, user.hospital_id, limit=AUDIT_PAGE_SIZE, offset=(page - 1) * AUDIT_PAGE_SIZE
    )
    context = {
        "user": user,
        "entries": entries,
        "count": count,
        "page": page,
        "pages": max(1, -(-count // AUDIT_PAGE_SIZE)),
    }
    return templates.TemplateResponse(request, "audit.html", context)
