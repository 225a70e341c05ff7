"""What every console page and form shares: the logged-in staff member, the CSRF token, and the refusals."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response

from dispatch.auth import service as auth_service
from dispatch.auth.api import SESSION_COOKIE, optional_staff
from dispatch.auth.models import Role, StaffUser
from dispatch.core.settings import settings

OptionalStaff = Annotated[StaffUser | None, Depends(optional_staff)]

ORDER_NOT_FOUND = "Pesanan tidak ditemukan / order not found"


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


def refuse_form(
    request: Request, user: StaffUser | None, csrf: str, refusal: str, role: Role = Role.PHARMACIST
) -> Response | None:
    """The checks every console form post makes: logged in, our own form (CSRF), and the role it needs.

    ``refusal`` says, in Bahasa Indonesia and English, who alone may do this.
    """
    if user is None:
        return to_login()
    if not hmac.compare_digest(csrf, csrf_token(request)):
        return Response("CSRF token tidak valid / invalid CSRF token", status_code=403)
    if not auth_service.may(user, role):
        return Response(refusal, status_code=403)
    return None


def refuse_page(user: StaffUser | None, role: Role, refusal: str) -> Response | None:
    """The checks a page limited to one role makes: logged in, and that role."""
    if user is None:
        return to_login()
    if not auth_service.may(user, role):
        return Response(refusal, status_code=403)
    return None
