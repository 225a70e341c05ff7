"""Admin pages: staff accounts, courier accounts, the hospital's settings, API keys and the deny-list.

Each change is a CSRF-checked form post by an admin of the hospital, written to the audit log with the
change; passwords, keys and courier credentials never reach the log or a page after they are set.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from couriers.registry import all_plugins
from dispatch.audit import service as audit
from dispatch.auth.models import Role, StaffUser
from dispatch.console import repository, service
from dispatch.console.forms import ConsoleRoute, csrf_token, form_role, found, not_found, page_role
from dispatch.core.clock import utcnow
from dispatch.core.db import SessionDep
from dispatch.hospitals import service as hospitals_service
from dispatch.hospitals.models import Hospital
from dispatch.web.templating import templates
from hospital_adapter.restrictions import CATEGORY_ORDER

router = APIRouter(prefix="/admin", route_class=ConsoleRoute)

ADMINS_ONLY: Final = "Hanya admin / admins only"
# The key is on this one page only: no browser or proxy may keep a copy.
NO_STORE: Final = {"Cache-Control": "no-store"}
USER_NOT_FOUND: Final = "Pengguna tidak ditemukan / user not found"


AdminPage = Annotated[StaffUser, Depends(page_role(Role.ADMIN, refusal=ADMINS_ONLY))]
AdminForm = Annotated[StaffUser, Depends(form_role(Role.ADMIN, refusal=ADMINS_ONLY))]


def _hospital(session: Session, user: StaffUser) -> Hospital:
    hospital = session.get(Hospital, user.hospital_id)
    assert hospital is not None
    return hospital


def _page(
    request: Request,
    user: StaffUser,
    template: str,
    context: dict[str, Any],
    *,
    error: str = "",
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    full = {
        "user": user,
        "csrf": csrf_token(request),
        "error": error,
        "flash": request.query_params.get("flash", ""),
        **context,
    }
    return templates.TemplateResponse(request, template, full, status_code=status_code, headers=headers)


def _back(path: str, flash: str) -> RedirectResponse:
    return RedirectResponse(f"/console/admin/{path}?flash={flash}", status_code=303)


# --- staff -------------------------------------------------------------------------------------------------


def _users_page(
    request: Request, session: Session, user: StaffUser, *, error: str = "", status_code: int = 200
) -> Response:
    context = {"users": repository.users(session, user.hospital_id), "roles": list(Role)}
    return _page(request, user, "admin_users.html", context, error=error, status_code=status_code)


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, session: SessionDep, user: AdminPage) -> Response:
    return _users_page(request, session, user)


@router.post("/users")
def create_user(
    request: Request,
    session: SessionDep,
    user: AdminForm,
    username: Annotated[str, Form(max_length=64)] = "",
    full_name: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[str, Form(max_length=16)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        created = service.create_user(session, _hospital(session, user), username, full_name, role, password)
    except service.AdminRefused as exc:
        session.rollback()
        return _users_page(request, session, user, error=str(exc), status_code=422)
    audit.record(
        session, user, "user.create", "staff_user", created.id, created.username, {"role": created.role.value}
    )
    session.commit()
    return _back("users", "user_created")


@router.post("/users/{user_id}/active")
def set_user_active(
    user_id: int,
    request: Request,
    session: SessionDep,
    user: AdminForm,
    active: Annotated[bool, Form()],
) -> Response:
    target = found(repository.get_user(session, user.hospital_id, user_id), USER_NOT_FOUND)
    try:
        service.set_active(session, user, target, active)
    except service.AdminRefused as exc:
        return _users_page(request, session, user, error=str(exc), status_code=422)
    action = "user.enable" if active else "user.disable"
    audit.record(session, user, action, "staff_user", user_id, target.username)
    session.commit()
    return _back("users", "user_enabled" if active else "user_disabled")


@router.post("/users/{user_id}/password")
def reset_password(
    user_id: int,
    request: Request,
    session: SessionDep,
    user: AdminForm,
    password: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    target = found(repository.get_user(session, user.hospital_id, user_id), USER_NOT_FOUND)
    try:
        service.reset_password(session, target, password)
    except service.AdminRefused as exc:
        return _users_page(request, session, user, error=str(exc), status_code=422)
    audit.record(session, user, "user.reset_password", "staff_user", user_id, target.username)
    session.commit()
    return _back("users", "password_reset")


# --- courier accounts --------------------------------------------------------------------------------------


def _couriers_page(
    request: Request, session: Session, user: StaffUser, *, error: str = "", status_code: int = 200
) -> Response:
    accounts = repository.courier_accounts(session, user.hospital_id)
    context = {
        "accounts": [(a, service.shown_courier_settings(a)) for a in accounts],
        "couriers": [plugin.name for plugin in all_plugins()],
    }
    return _page(request, user, "admin_couriers.html", context, error=error, status_code=status_code)


@router.get("/couriers", response_class=HTMLResponse)
def couriers_page(request: Request, session: SessionDep, user: AdminPage) -> Response:
    return _couriers_page(request, session, user)


@router.post("/couriers")
def add_courier_account(
    request: Request,
    session: SessionDep,
    user: AdminForm,
    courier: Annotated[str, Form(max_length=32)] = "",
    label: Annotated[str, Form(max_length=64)] = "",
    priority: Annotated[int, Form(ge=0, le=10_000)] = 100,
    settings: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    """The settings are checked by the courier's own model; a refusal names fields, never their values."""
    try:
        account = service.add_courier_account(
            session, _hospital(session, user), courier, label, priority, settings
        )
    except service.AdminRefused as exc:
        session.rollback()
        return _couriers_page(request, session, user, error=str(exc), status_code=422)
    audit.record(
        session,
        user,
        "courier_account.create",
        "courier_account",
        account.id,
        f"{account.courier} ({account.label})",
        {"priority": account.priority},
    )
    session.commit()
    return _back("couriers", "courier_added")


@router.post("/couriers/{account_id}/enabled")
def set_courier_enabled(
    account_id: int,
    request: Request,
    session: SessionDep,
    user: AdminForm,
    enabled: Annotated[bool, Form()],
) -> Response:
    account = found(
        repository.get_courier_account(session, user.hospital_id, account_id),
        "Akun kurir tidak ditemukan / courier account not found",
    )
    try:
        service.set_courier_enabled(account, enabled)
    except service.AdminRefused as exc:
        return _couriers_page(request, session, user, error=str(exc), status_code=422)
    action = "courier_account.enable" if enabled else "courier_account.disable"
    audit.record(session, user, action, "courier_account", account_id, f"{account.courier} ({account.label})")
    session.commit()
    return _back("couriers", "courier_enabled" if enabled else "courier_disabled")


# --- hospital settings -------------------------------------------------------------------------------------


def _settings_page(
    request: Request,
    session: Session,
    user: StaffUser,
    *,
    submitted: dict[str, str] | None = None,
    error: str = "",
    status_code: int = 200,
) -> Response:
    hospital = _hospital(session, user)
    shown = {kind: service.shown_settings(hospital, kind) for kind in service.SETTINGS}
    context = {"settings": {**shown, **(submitted or {})}, "mask": service.MASK}
    return _page(request, user, "admin_settings.html", context, error=error, status_code=status_code)


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, session: SessionDep, user: AdminPage) -> Response:
    return _settings_page(request, session, user)


@router.post("/settings/{kind}")
def save_settings(
    kind: str,
    request: Request,
    session: SessionDep,
    user: AdminForm,
    value: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    """Dispatch policy, geocoding policy or messaging settings, each checked by its own model."""
    if kind not in service.SETTINGS:
        return not_found("Pengaturan tidak dikenal / unknown settings")
    hospital = _hospital(session, user)
    try:
        service.save_settings(hospital, kind, value)
    except service.AdminRefused as exc:
        # The admin's text comes back as typed, so a long edit is not lost to one typo.
        return _settings_page(
            request, session, user, submitted={kind: value}, error=str(exc), status_code=422
        )
    # What changed is kept as the page shows it: secrets masked.
    audit.record(
        session,
        user,
        f"settings.{kind}",
        "hospital",
        hospital.id,
        data={"shown": service.shown_settings(hospital, kind)},
    )
    session.commit()
    return _back("settings", f"saved_{kind}")


# --- API keys ----------------------------------------------------------------------------------------------


def _keys_page(
    request: Request, session: Session, user: StaffUser, *, new_key: str = "", status_code: int = 200
) -> Response:
    context = {"keys": repository.api_keys(session, user.hospital_id), "new_key": new_key}
    return _page(request, user, "admin_api_keys.html", context, status_code=status_code, headers=NO_STORE)


@router.get("/api-keys", response_class=HTMLResponse)
def api_keys_page(request: Request, session: SessionDep, user: AdminPage) -> Response:
    return _keys_page(request, session, user)


@router.post("/api-keys")
def create_api_key(
    request: Request,
    session: SessionDep,
    user: AdminForm,
    name: Annotated[str, Form(min_length=1, max_length=100)],
) -> Response:
    """Shows the key once, on the answer to this post; only its hash and prefix are kept."""
    key, plaintext = hospitals_service.create_api_key(session, _hospital(session, user), name.strip())
    audit.record(session, user, "api_key.create", "api_key", key.id, key.name, {"prefix": key.prefix})
    session.commit()
    return _keys_page(request, session, user, new_key=plaintext, status_code=201)


@router.post("/api-keys/{key_id}/revoke")
def revoke_api_key(key_id: int, session: SessionDep, user: AdminForm) -> Response:
    key = found(
        repository.get_api_key(session, user.hospital_id, key_id),
        "Kunci API tidak ditemukan / API key not found",
    )
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        audit.record(session, user, "api_key.revoke", "api_key", key_id, key.name, {"prefix": key.prefix})
        session.commit()
    return _back("api-keys", "revoked")


# --- deny-list ---------------------------------------------------------------------------------------------


def _deny_page(
    request: Request, session: Session, user: StaffUser, *, error: str = "", status_code: int = 200
) -> Response:
    context = {
        "lists": service.deny_lists(_hospital(session, user)),
        "list_names": service.DENY_LISTS,
        "categories": CATEGORY_ORDER,
    }
    return _page(request, user, "admin_deny_list.html", context, error=error, status_code=status_code)


@router.get("/deny-list", response_class=HTMLResponse)
def deny_list_page(request: Request, session: SessionDep, user: AdminPage) -> Response:
    return _deny_page(request, session, user)


@router.post("/deny-list")
def change_deny_list(
    request: Request,
    session: SessionDep,
    user: AdminForm,
    field: Annotated[str, Form(max_length=32)],
    entry: Annotated[str, Form(min_length=1, max_length=100)],
    category: Annotated[str, Form(max_length=32)] = "",
    remove: Annotated[bool, Form()] = False,
) -> Response:
    """Adds an entry (code, class or ingredient name with its category), or removes one; takes effect for
    prescriptions received from now on."""
    hospital = _hospital(session, user)
    entry = entry.strip()

    def change(entries: dict[str, str]) -> None:
        if remove:
            if entries.pop(entry, None) is None:
                raise service.AdminRefused(f"{entry} tidak ada di daftar / is not on the list")
        else:
            entries[entry] = category

    try:
        service.change_deny_list(hospital, field, change)
    except service.AdminRefused as exc:
        return _deny_page(request, session, user, error=str(exc), status_code=422)
    action = "deny_list.remove" if remove else "deny_list.add"
    audit.record(
        session,
        user,
        action,
        "hospital",
        hospital.id,
        f"{field}: {entry}",
        {"field": field, "entry": entry, "category": category or None},
    )
    session.commit()
    return _back("deny-list", "removed" if remove else "added")
