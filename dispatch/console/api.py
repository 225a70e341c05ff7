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
from dispatch.hospitals import repository as hospitals_repository
from dispatch.hospitals.models import Hospital
from dispatch.inbox import repository as inbox_repository
from dispatch.inbox.models import InboxStatus
from dispatch.intake import service as intake_service
from dispatch.orders import repository as orders_repository
from dispatch.orders import service as orders_service
from dispatch.orders.api import order_detail, order_public
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
    """One order: its timeline (alerts included, such as an unknown courier status), bookings, tracking link."""
    if user is None:
        return _to_login()
    order = orders_repository.get_order(session, user.hospital_id, order_id)
    if order is None:
        return Response("Pesanan tidak ditemukan / order not found", status_code=404)
    can_choose = (
        auth_service.may(user, Role.DISPATCHER) and order.status in dispatching_service.COURIER_CHOOSABLE
    )
    context = {
        "user": user,
        "order": order_detail(session, order),
        "csrf": csrf_token(request),
        "can_release": auth_service.may(user, Role.PHARMACIST),
        "courier_accounts": (
            hospitals_repository.enabled_courier_accounts(session, user.hospital_id) if can_choose else []
        ),
        "flash": request.query_params.get("flash", ""),
    }
    return templates.TemplateResponse(request, "order.html", context)


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
