"""What every console page and form shares: the logged-in staff member, the CSRF token, and the refusals.

A route takes its guard as a dependency (``Staff``, ``page_role``, ``form_role``); a guard that refuses raises
``ConsoleRefusal`` with the answer, which ``ConsoleRoute`` sends instead of the route's, so a route body holds only
its own logic.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute

from dispatch.auth import service as auth_service
from dispatch.auth.api import SESSION_COOKIE, optional_staff
from dispatch.auth.models import Role, StaffUser
from dispatch.core.settings import settings

OptionalStaff = Annotated[StaffUser | None, Depends(optional_staff)]

ORDER_NOT_FOUND = "Pesanan tidak ditemukan / order not found"

Record = TypeVar("Record")


class ConsoleRefusal(Exception):
    """The answer a console route gives instead of its page: the login page, a 403 or a 404."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class ConsoleRoute(APIRoute):
    """Answers a ``ConsoleRefusal`` with its response; only the console's routers use it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except ConsoleRefusal as refusal:
                return refusal.response

        return answer


def csrf_token(request: Request) -> str:
    session_token = request.cookies.get(SESSION_COOKIE, "")
    return hmac.new(
        settings.secret_key.encode(), f"csrf:{session_token}".encode(), hashlib.sha256
    ).hexdigest()


def to_login() -> RedirectResponse:
    """Where a page sends a visitor without a live session (never logged in, logged out, or expired)."""
    return RedirectResponse("/console/login", status_code=303)


def not_found(text: str = ORDER_NOT_FOUND) -> Response:
    """Another hospital's record reads exactly as one that does not exist."""
    return Response(text, status_code=404)


def found(record: Record | None, text: str = ORDER_NOT_FOUND) -> Record:
    """The record, or the console's 404 for it."""
    if record is None:
        raise ConsoleRefusal(not_found(text))
    return record


def refuse_form(
    request: Request,
    user: StaffUser | None,
    csrf: str,
    refusal: str,
    roles: tuple[Role, ...] = (Role.PHARMACIST,),
) -> Response | None:
    """The checks every console form post makes: logged in, our own form (CSRF), and one of the roles it needs.

    ``refusal`` says, in Bahasa Indonesia and English, who alone may do this.
    """
    if user is None:
        return to_login()
    if not hmac.compare_digest(csrf, csrf_token(request)):
        return Response("CSRF token tidak valid / invalid CSRF token", status_code=403)
    if not auth_service.may(user, *roles):
        return Response(refusal, status_code=403)
    return None


def logged_in(user: OptionalStaff) -> StaffUser:
    """Any console page: the staff member, or the login page for a visitor without a live session."""
    if user is None:
        raise ConsoleRefusal(to_login())
    return user


Staff = Annotated[StaffUser, Depends(logged_in)]


def page_role(*roles: Role, refusal: str) -> Callable[[StaffUser], StaffUser]:
    """A page for ``roles`` (and admins): the login page without a session, ``refusal`` (403) for other roles."""

    def staff_in_role(user: Staff) -> StaffUser:
        if not auth_service.may(user, *roles):
            raise ConsoleRefusal(Response(refusal, status_code=403))
        return user

    return staff_in_role


def form_role(*roles: Role, refusal: str) -> Callable[[Request, StaffUser | None, str], StaffUser]:
    """A form post for ``roles`` (and admins), checked by ``refuse_form``: session, CSRF field, role."""

    def staff_posting(request: Request, user: OptionalStaff, csrf: Annotated[str, Form()] = "") -> StaffUser:
        refused = refuse_form(request, user, csrf, refusal, roles)
        if refused is not None:
            raise ConsoleRefusal(refused)
        assert user is not None
        return user

    return staff_posting
