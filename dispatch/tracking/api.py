"""GET /t/{token}: what a patient may see of their delivery, and nothing more; and, while the address is in
doubt, the one thing the patient may change: where they live (POST /t/{token}/location); once delivered, the
patient's word that the medicine arrived (POST /t/{token}/received)."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Annotated, Final

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from dispatch.core import ratelimit
from dispatch.core.clock import as_wib, utcnow
from dispatch.core.db import SessionDep
from dispatch.core.http import client_address
from dispatch.core.problems import PROBLEM_JSON, PROBLEM_SCHEMA
from dispatch.dispatching.locating import LocationRefused, confirm_location
from dispatch.geocoding import maps
from dispatch.geocoding.gazetteer import Unit, load_gazetteer
from dispatch.hospitals.models import Hospital
from dispatch.notify import repository as notify_repository
from dispatch.notify.models import TrackingToken
from dispatch.notify.phones import mask_phone, normalize_id_phone
from dispatch.notify.tokens import looks_like_token, token_lookup_hash
from dispatch.orders import repository as orders_repository
from dispatch.orders import service as orders_service
from dispatch.orders.state_machine import OrderStatus
from dispatch.tracking import repository as tracking_repository
from dispatch.tracking.repository import TrackedOrder
from dispatch.web.templating import templates

router = APIRouter(tags=["tracking"])

# Privacy headers: never cached by shared proxies, never leaked in a Referer.
PRIVATE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}


PIN_SHOWN = frozenset({OrderStatus.BOOKING, OrderStatus.COURIER_ASSIGNED, OrderStatus.PICKED_UP})
# The booking's estimate of the parcel at the door, once a driver has it or is on the way to fetch it.
ETA_SHOWN = frozenset({OrderStatus.COURIER_ASSIGNED, OrderStatus.PICKED_UP})

# A patient may get their position refused a few times (at work, not at home; a wrong desa); past this the
# link stops accepting positions for a while, so it cannot be used to probe the service area.
REFUSALS_PER_HOUR: Final = 5
REFUSAL_EVENT: Final = "location_refused"
# A phone fix coarser than this is a cell tower, not a house; the desa list is the honest answer then.
MAX_ACCURACY_M: Final = 500.0


HTML: dict[str, object] = {"text/html": {"schema": {"type": "string"}}}
NOT_FOUND: dict[int | str, dict[str, object]] = {
    404: {"description": "Unknown, malformed or expired link (HTML page)", "content": HTML},
    429: {"description": "Too many requests for this link or from this address (HTML page)", "content": HTML},
}
# A form the patient's browser sends: HTML with the reason, or problem+json when a field is not even a form value.
FORM_ANSWERS: dict[int | str, dict[str, object]] = {
    **NOT_FOUND,
    303: {"description": "Taken, or nothing to change: back to the tracking page"},
    422: {
        "description": "Refused, with the reason on the page; problem+json for a malformed form",
        "content": {**HTML, PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}},
    },
}


def _not_found(request: Request, lang: str) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "track_missing.html", {"lang": lang}, status_code=404, headers=PRIVATE_HEADERS
    )


def _throttled(request: Request, token: str, lang: str) -> HTMLResponse | None:
    """A page asking to wait, when this link or this address asked too often; counted before the token is
    looked up, so guessing links costs the guesser, not the database."""
    wait = ratelimit.hit_each(
        (ratelimit.TRACKING_PER_TOKEN, token), (ratelimit.TRACKING_PER_CLIENT, client_address(request))
    )
    if wait is None:
        return None
    return templates.TemplateResponse(
        request,
        "track_busy.html",
        {"lang": lang},
        status_code=429,
        headers={**PRIVATE_HEADERS, "Retry-After": str(wait)},
    )


def _record(session: Session, token: str) -> TrackingToken | None:
    """The live token record, or None for an unknown, malformed or expired link."""
    if not looks_like_token(token):
        return None
    record = notify_repository.get_token_by_hash(session, token_lookup_hash(token))
    if record is None or record.expires_at <= utcnow():
        return None
    return record


@router.get("/t/{token}", response_class=HTMLResponse, operation_id="tracking-page", responses=NOT_FOUND)
async def tracking_page(
    token: str, request: Request, lang: str = "id", located: str = "", desa: str = ""
) -> HTMLResponse:
    """Async, yet blocking the event loop for its two counter increments and its one query (about a
    millisecond): each visit then runs from start to finish without a hop to the threadpool. As a sync
    route, 200 readers at once were 200 threadpool jobs taking turns on the GIL, and each waited behind the
    others for seconds; now they wait at the socket, in the order they came, and each is served quickly."""
    lang = "en" if lang == "en" else "id"
    throttled = _throttled(request, token, lang)
    if throttled is not None:
        return throttled
    if not looks_like_token(token):
        return _not_found(request, lang)
    tracked = tracking_repository.tracked_order(token_lookup_hash(token), utcnow())
    if tracked is None:
        return _not_found(request, lang)
    page = partial(_page, request, token, tracked, lang, located=located == "1", every_desa=desa == "all")
    if tracked.status == OrderStatus.NEEDS_ADDRESS and not load_gazetteer.cache_info().currsize:
        # The desa list needs the gazetteer, parsed once per process in seconds: not on the event loop. Once
        # parsed, the lists are kept and the page is made here like the others (the threadpool made each
        # such page wait for the GIL behind the loop: p50 950 ms in the bench).
        return await run_in_threadpool(page)
    return page()


@router.post(
    "/t/{token}/location",
    operation_id="tracking-location",
    response_class=HTMLResponse,
    responses={
        **FORM_ANSWERS,
        429: {"description": "Too many refused positions this hour, or too many requests", "content": HTML},
    },
)
def share_location(
    token: str,
    request: Request,
    session: SessionDep,
    lang: Annotated[str, Form(max_length=2)] = "id",
    lat: Annotated[str, Form(max_length=32)] = "",
    lon: Annotated[str, Form(max_length=32)] = "",
    accuracy: Annotated[str, Form(max_length=32)] = "",
    desa: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """The patient's position, from the phone (lat/lon) or from the desa list, saved for this delivery and
    every later one. Only an order waiting for its address takes it; anything else leaves the order as it is."""
    lang = "en" if lang == "en" else "id"
    throttled = _throttled(request, token, lang)
    if throttled is not None:
        return throttled
    record = _record(session, token)
    if record is None:
        return _not_found(request, lang)
    order = orders_repository.get_order_for_update(session, record.order_id)
    hospital = session.get(Hospital, record.hospital_id)
    assert order is not None and order.id is not None and hospital is not None
    back = f"/t/{token}?lang={lang}"
    if order.status != OrderStatus.NEEDS_ADDRESS:
        return RedirectResponse(back, status_code=303, headers=PRIVATE_HEADERS)
    since = utcnow() - timedelta(hours=1)
    refusals = [
        e
        for e in orders_repository.events_for(session, order.id)
        if e.data.get("kind") == REFUSAL_EVENT and e.at > since
    ]
    if len(refusals) >= REFUSALS_PER_HOUR:
        too_many = "Terlalu banyak percobaan; coba lagi nanti / too many attempts; try again later"
        return _page(request, token, _tracked(record), lang, error=too_many, status_code=429)
    try:
        point = maps.point_from_form(lat, lon, desa, hospital.kabupaten_code)
        if not desa and _coarse(accuracy):
            raise maps.UnreadablePoint(
                "Lokasi dari ponsel kurang tepat; pilih desa Anda / "
                "the phone's location is not precise enough; choose your village"
            )
        confirm_location(session, order, point[0], point[1], by="patient", actor="patient")
    except (maps.UnreadablePoint, LocationRefused) as exc:
        session.rollback()
        order = orders_repository.get_order_for_update(session, record.order_id)
        assert order is not None
        orders_service.add_event(
            session,
            order,
            "system",
            f"Patient's location refused: {exc}",
            actor="patient",
            data={"kind": REFUSAL_EVENT},
        )
        session.commit()
        return _page(request, token, _tracked(record), lang, error=str(exc), status_code=422)
    session.commit()
    return RedirectResponse(f"{back}&located=1", status_code=303, headers=PRIVATE_HEADERS)


@router.post(
    "/t/{token}/received",
    operation_id="tracking-received",
    response_class=HTMLResponse,
    responses=FORM_ANSWERS,
)
def confirm_received(
    token: str, request: Request, session: SessionDep, lang: Annotated[str, Form(max_length=2)] = "id"
) -> Response:
    """The patient says the medicine reached them: for couriers that take no PIN (GoSend) this, with the
    driver's photo, is the handover's evidence. Only a delivered order takes it, and only once."""
    lang = "en" if lang == "en" else "id"
    throttled = _throttled(request, token, lang)
    if throttled is not None:
        return throttled
    record = _record(session, token)
    if record is None:
        return _not_found(request, lang)
    order = orders_repository.get_order_for_update(session, record.order_id)
    assert order is not None
    if order.status == OrderStatus.DELIVERED and order.receipt_confirmed_at is None:
        order.receipt_confirmed_at = utcnow()
        orders_service.add_event(
            session, order, "patient", "Patient confirmed the medicine was received", actor="patient"
        )
        session.commit()
    return RedirectResponse(f"/t/{token}?lang={lang}", status_code=303, headers=PRIVATE_HEADERS)


def _coarse(accuracy: str) -> bool:
    """Whether the phone said its fix is coarser than a house; a browser that says nothing is believed."""
    try:
        return float(accuracy) > MAX_ACCURACY_M
    except ValueError:
        return False


def _tracked(record: TrackingToken) -> TrackedOrder:
    """The page of a link already found live, after the form's own changes were committed or rolled back."""
    tracked = tracking_repository.tracked_order(record.lookup_hash, utcnow())
    assert tracked is not None
    return tracked


def _page(
    request: Request,
    token: str,
    tracked: TrackedOrder,
    lang: str,
    *,
    located: bool = False,
    every_desa: bool = False,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    driver_phone = normalize_id_phone(tracked.driver_phone) if tracked.driver_phone else None
    ask_location = tracked.status == OrderStatus.NEEDS_ADDRESS
    context = {
        "lang": lang,
        "token": token,
        "order": tracked,
        "driver_name": tracked.driver_name,
        "plate": tracked.vehicle_plate,
        "driver_phone": mask_phone(driver_phone) if driver_phone else None,
        # Only while the parcel is on its way: the PIN is what the patient tells the driver at the door.
        "handover_pin": tracked.handover_pin if tracked.status in PIN_SHOWN else None,
        "eta": as_wib(tracked.eta_at).strftime("%H:%M")
        if tracked.eta_at and tracked.status in ETA_SHOWN
        else None,
        "ask_receipt": tracked.status == OrderStatus.DELIVERED and tracked.receipt_confirmed_at is None,
        "ask_location": ask_location,
        "desa_groups": _desa_groups(tracked, every=every_desa) if ask_location else [],
        "every_desa": every_desa,
        "located": located and not ask_location,
        "error": error,
    }
    return templates.TemplateResponse(
        request, "track.html", context, status_code=status_code, headers=PRIVATE_HEADERS
    )


def _desa_groups(tracked: TrackedOrder, *, every: bool) -> list[tuple[Unit, list[Unit]]]:
    """The desa of the patient's kecamatan (a short list on a small screen), or of the whole service area when
    the kecamatan is not known or the patient asks for every desa: the kecamatan on record may be wrong."""
    if every:
        return maps.desa_choices(tracked.kabupaten_code)
    return maps.desa_choices(
        maps.area_for((tracked.patient_district_code, tracked.kecamatan_code), tracked.kabupaten_code)
    )
