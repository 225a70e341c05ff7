"""Console pages: log in, see orders, release them. Forms carry a CSRF token bound to the session."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from dispatch.auth import service as auth_service
from dispatch.auth.api import SESSION_COOKIE, optional_staff
from dispatch.auth.models import Role, StaffUser
from dispatch.core.db import SessionDep
from dispatch.core.settings import settings
from dispatch.dispatching import service as dispatching_service
from dispatch.dispatching.locating import LocationRefused, confirm_location
from dispatch.geocoding import maps
from dispatch.geocoding.address import parse_address
from dispatch.hospitals import repository as hospitals_repository
from dispatch.hospitals.models import Hospital
from dispatch.inbox import repository as inbox_repository
from dispatch.inbox.models import InboxStatus
from dispatch.intake import service as intake_service
from dispatch.orders import repository as orders_repository
from dispatch.orders import service as orders_service
from dispatch.orders.api import order_detail, order_public
from dispatch.orders.models import Order, Patient
from dispatch.orders.state_machine import OrderStatus, TransitionRefused
from dispatch.web.templating import templates
from hospital_adapter.canonical import SourceInputError

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)

OptionalStaff = Annotated[StaffUser | None, Depends(optional_staff)]


def csrf_token(request: Request) -> str:
    session_token = request.cookies.get(SESSION_COOKIE, "")
    return hmac.new(
        settings.secret_key.encode(), f"csrf:{session_token}".encode(), hashlib.sha256
    ).hexdigest()


def _to_login() -> RedirectResponse:
    return RedirectResponse("/console/login", status_code=303)


def refuse_form(
    request: Request, user: StaffUser | None, csrf: str, refusal: str, role: Role = Role.PHARMACIST
) -> Response | None:
    """The checks every console form post makes: logged in, our own form (CSRF), and the role it needs.

    ``refusal`` says, in Bahasa Indonesia and English, who alone may do this.
    """
    if user is None:
        return _to_login()
    if not hmac.compare_digest(csrf, csrf_token(request)):
        return Response("CSRF token tidak valid / invalid CSRF token", status_code=403)
    if not auth_service.may(user, role):
        return Response(refusal, status_code=403)
    return None


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, error: str = "") -> HTMLResponse:
    return templates.TemplateResponse(request, "login.html", {"error": error})


@router.post("/login")
def login(
    request: Request, session: SessionDep, username: Annotated[str, Form()], password: Annotated[str, Form()]
) -> Response:
    try:
        _user, token = auth_service.login(session, username, password)
    except auth_service.LoginRefused:
        session.commit()
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
    response = _to_login()
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("", response_class=HTMLResponse)
def orders_page(request: Request, session: SessionDep, user: OptionalStaff, status: str = "") -> Response:
    if user is None:
        return _to_login()
    status_filter = OrderStatus(status) if status in OrderStatus.__members__.values() else None
    orders, count = orders_repository.list_orders(
        session, user.hospital_id, status=status_filter, limit=200, offset=0
    )
    context = {
        "user": user,
        "orders": [order_public(session, o) for o in orders],
        "count": count,
        "status": status_filter,
        "statuses": list(OrderStatus),
        "csrf": csrf_token(request),
        "can_release": auth_service.may(user, Role.PHARMACIST),
        "flash": request.query_params.get("flash", ""),
    }
    return templates.TemplateResponse(request, "orders.html", context)


@router.get("/orders/{order_id}", response_class=HTMLResponse)
def order_page(order_id: int, request: Request, session: SessionDep, user: OptionalStaff) -> Response:
    """One order: its timeline (alerts included, such as an unknown courier status), bookings, tracking link,
    and a map of its kecamatan; an order whose address is in doubt can be placed there by a dispatcher."""
    if user is None:
        return _to_login()
    order = orders_repository.get_order(session, user.hospital_id, order_id)
    if order is None:
        return Response("Pesanan tidak ditemukan / order not found", status_code=404)
    return _order_page(request, session, user, order)


def _order_page(
    request: Request,
    session: SessionDep,
    user: StaffUser,
    order: Order,
    *,
    error: str = "",
    status_code: int = 200,
) -> Response:
    can_choose = (
        auth_service.may(user, Role.DISPATCHER) and order.status in dispatching_service.COURIER_CHOOSABLE
    )
    can_locate = auth_service.may(user, Role.DISPATCHER) and order.status == OrderStatus.NEEDS_ADDRESS
    hospital = session.get(Hospital, order.hospital_id)
    patient = session.get(Patient, order.patient_id)
    assert hospital is not None and patient is not None
    area = maps.area_for((order.kecamatan_code, patient.district_code), hospital.kabupaten_code)
    context = {
        "user": user,
        "order": order_detail(session, order),
        "csrf": csrf_token(request),
        "can_release": auth_service.may(user, Role.PHARMACIST),
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


@router.post("/orders/{order_id}/location")
def locate_order(
    order_id: int,
    request: Request,
    session: SessionDep,
    user: OptionalStaff,
    csrf: Annotated[str, Form()] = "",
    lat: Annotated[str, Form(max_length=32)] = "",
    lon: Annotated[str, Form(max_length=32)] = "",
    desa: Annotated[str, Form(max_length=16)] = "",
    dusun: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Settles an address in doubt: a pin placed on the map (or typed), or a desa from the list, whose centroid is
    used and whose dusun the courier is told."""
    refused = refuse_form(
        request,
        user,
        csrf,
        "Hanya dispatcher yang dapat menentukan lokasi / only dispatchers may set the location",
        Role.DISPATCHER,
    )
    if refused is not None:
        return refused
    assert user is not None
    order = orders_repository.get_order(session, user.hospital_id, order_id, for_update=True)
    if order is None:
        return Response("Pesanan tidak ditemukan / order not found", status_code=404)
    if order.status != OrderStatus.NEEDS_ADDRESS:
        return RedirectResponse(f"/console/orders/{order_id}?flash=location_not_needed", status_code=303)
    hospital = session.get(Hospital, order.hospital_id)
    assert hospital is not None
    try:
        point = maps.point_from_form(lat, lon, desa, hospital.kabupaten_code)
        confirm_location(session, order, point[0], point[1], by="staff", actor=user.username)
    except (maps.UnreadablePoint, LocationRefused) as exc:
        session.rollback()
        order = orders_repository.get_order(session, user.hospital_id, order_id)
        assert order is not None
        return _order_page(request, session, user, order, error=str(exc), status_code=422)
    if desa and dusun.strip():
        _note_dusun(session, order, dusun.strip(), user.username)
    session.commit()
    return RedirectResponse(f"/console/orders/{order_id}?flash=located", status_code=303)


def _note_dusun(session: SessionDep, order: Order, dusun: str, actor: str) -> None:
    """A desa centroid is kilometres from the door: the dusun goes into the patient's address, which the
    courier's drop-off carries, unless the address already names it."""
    patient = session.get(Patient, order.patient_id)
    assert patient is not None
    if dusun.casefold() not in patient.address_text.casefold():
        patient.address_text = f"Dsn. {dusun}, {patient.address_text}".rstrip(", ")[:500]
    orders_service.add_event(session, order, "staff", f"Dusun: {dusun}", actor=actor)


@router.get("/needs-address", response_class=HTMLResponse)
def needs_address_page(request: Request, session: SessionDep, user: OptionalStaff) -> Response:
    """The queue of orders waiting for a position, with their best guesses on a map of the hospital's area."""
    if user is None:
        return _to_login()
    hospital = session.get(Hospital, user.hospital_id)
    assert hospital is not None
    orders, count = orders_repository.list_orders(
        session, user.hospital_id, status=OrderStatus.NEEDS_ADDRESS, limit=200, offset=0
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
    request: Request,
    session: SessionDep,
    user: OptionalStaff,
    account_id: Annotated[int, Form()],
    reason: Annotated[str, Form(max_length=300)],
    csrf: Annotated[str, Form()] = "",
) -> Response:
    refused = refuse_form(
        request,
        user,
        csrf,
        "Hanya dispatcher yang dapat memilih kurir / only dispatchers may choose the courier",
        Role.DISPATCHER,
    )
    if refused is not None:
        return refused
    assert user is not None
    order = orders_repository.get_order(session, user.hospital_id, order_id, for_update=True)
    if order is None:
        return Response("Pesanan tidak ditemukan / order not found", status_code=404)
    try:
        dispatching_service.choose_courier_by_hand(
            session, order, account_id, user.username, reason.strip() or "-"
        )
    except dispatching_service.CourierNotChoosable:
        return RedirectResponse(f"/console/orders/{order_id}?flash=courier_refused", status_code=303)
    session.commit()
    return RedirectResponse(f"/console/orders/{order_id}?flash=courier_chosen", status_code=303)


@router.post("/orders/{order_id}/release")
def release(
    order_id: int,
    request: Request,
    session: SessionDep,
    user: OptionalStaff,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    refused = refuse_form(
        request, user, csrf, "Hanya apoteker yang dapat merilis / only pharmacists may release"
    )
    if refused is not None:
        return refused
    assert user is not None
    order = orders_repository.get_order(session, user.hospital_id, order_id, for_update=True)
    if order is None:
        return Response("Pesanan tidak ditemukan / order not found", status_code=404)
    try:
        orders_service.release(session, order, user)
    except (TransitionRefused, orders_service.ReleaseRefused):
        return RedirectResponse("/console?flash=refused", status_code=303)
    session.commit()
    return RedirectResponse("/console?flash=released", status_code=303)


@router.get("/inbox", response_class=HTMLResponse)
def inbox_page(request: Request, session: SessionDep, user: OptionalStaff) -> Response:
    """The quarantine: inbound messages refused with their reason, each re-runnable after a fix."""
    if user is None:
        return _to_login()
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
    request: Request,
    session: SessionDep,
    user: OptionalStaff,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    refused = refuse_form(
        request, user, csrf, "Hanya apoteker yang dapat memproses ulang / only pharmacists may re-process"
    )
    if refused is not None:
        return refused
    assert user is not None
    hospital = session.get(Hospital, user.hospital_id)
    assert hospital is not None
    try:
        intake_service.reprocess(inbox_id, hospital)
    except LookupError:
        return Response("Pesan tidak ditemukan / message not found", status_code=404)
    except (intake_service.NotReprocessable, SourceInputError):
        return RedirectResponse("/console/inbox?flash=still_refused", status_code=303)
    return RedirectResponse("/console/inbox?flash=reprocessed", status_code=303)
