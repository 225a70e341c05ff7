"""Staff login for the JSON API (bearer token) and the console (HttpOnly cookie)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from dispatch.auth import service
from dispatch.auth.models import Role, StaffUser, StaffUserPublic
from dispatch.core import ratelimit
from dispatch.core.db import SessionDep
from dispatch.core.http import bearer_token, client_address
from dispatch.core.problems import Problem, problem_responses

SESSION_COOKIE = "gancang_session"

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

# What current_staff and role_checker answer, for the routers of staff routes to declare.
STAFF_RESPONSES = problem_responses(401, 403)


class LoginRequest(BaseModel):
    username: str
    password: str


class LoginResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 scheme name
    user: StaffUserPublic


def staff_token(request: Request) -> str | None:
    return bearer_token(request) or request.cookies.get(SESSION_COOKIE)


def optional_staff(request: Request, session: SessionDep) -> StaffUser | None:
    token = staff_token(request)
    user = service.user_for_token(session, token) if token else None
    # Ends the read, so its pooled connection is free while the request waits for a thread for the endpoint.
    session.commit()
    return user


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def current_staff(request: Request, user: Annotated[StaffUser | None, Depends(optional_staff)]) -> StaffUser:
    """The JSON API's caller. A session cookie counts for reading only (the console links the CSV report):
    a browser sends the cookie with a form posted from any site, and the API's changes carry no CSRF token,
    so they need the ``Authorization`` header, which no other site can make a browser send."""
    if user is None:
        raise Problem(401, "Not authenticated", "Log in first.")
    if request.method not in SAFE_METHODS and bearer_token(request) is None:
        raise Problem(
            403, "Forbidden", "Send the session token as Authorization: Bearer; cookies are read-only."
        )
    return user


CurrentStaff = Annotated[StaffUser, Depends(current_staff)]


def role_checker(*roles: Role) -> Callable[[StaffUser], StaffUser]:
    def check(user: CurrentStaff) -> StaffUser:
        if not service.may(user, *roles):
            raise Problem(403, "Forbidden", f"This action needs the role {' or '.join(roles)}.")
        return user

    return check


Pharmacist = Annotated[StaffUser, Depends(role_checker(Role.PHARMACIST))]
Dispatcher = Annotated[StaffUser, Depends(role_checker(Role.DISPATCHER))]


def login_wait(request: Request) -> int | None:
    """Seconds before this client may try again, when it failed too many logins (whatever the usernames)."""
    return ratelimit.exceeded(ratelimit.LOGIN_FAILURES_PER_CLIENT, client_address(request))


def count_failed_login(request: Request) -> None:
    ratelimit.hit(ratelimit.LOGIN_FAILURES_PER_CLIENT, client_address(request))


@router.post("/login", operation_id="auth-login", responses=problem_responses(401, 429))
def login(body: LoginRequest, request: Request, session: SessionDep) -> LoginResponse:
    wait = login_wait(request)
    if wait is not None:
        raise Problem(429, "Too many failed logins", "Try again later.", headers={"Retry-After": str(wait)})
    try:
        user, token = service.login(session, body.username, body.password)
    except service.LoginRefused:
        session.commit()  # keep the failed-login count
        count_failed_login(request)
        raise Problem(401, "Login failed", "Wrong username or password, or the account is locked.") from None
    session.commit()
    return LoginResponse(access_token=token, user=StaffUserPublic.model_validate(user))


@router.post("/logout", operation_id="auth-logout", status_code=204)
def logout(request: Request, session: SessionDep) -> None:
    token = staff_token(request)
    if token:
        service.logout(session, token)
        session.commit()
