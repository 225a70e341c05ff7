"""GET /t/{token}: what a patient may see of their delivery, and nothing more."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from dispatch.core.clock import utcnow
from dispatch.core.db import SessionDep
from dispatch.dispatching.models import BookingAttempt
from dispatch.hospitals.models import Hospital
from dispatch.notify import repository as notify_repository
from dispatch.notify.phones import mask_phone, normalize_id_phone
from dispatch.notify.tokens import looks_like_token, token_lookup_hash
from dispatch.orders import repository as orders_repository
from dispatch.orders.models import Order
from dispatch.orders.state_machine import OrderStatus
from dispatch.web.templating import templates

router = APIRouter(tags=["tracking"])

# Privacy headers: never cached by shared proxies, never leaked in a Referer.
PRIVATE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}


PIN_SHOWN = frozenset({OrderStatus.BOOKING, OrderStatus.COURIER_ASSIGNED, OrderStatus.PICKED_UP})


def _not_found(request: Request, lang: str) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "track_missing.html", {"lang": lang}, status_code=404, headers=PRIVATE_HEADERS
    )


@router.get("/t/{token}", response_class=HTMLResponse, operation_id="tracking-page")
def tracking_page(token: str, request: Request, session: SessionDep, lang: str = "id") -> HTMLResponse:
    lang = "en" if lang == "en" else "id"
    if not looks_like_token(token):
        return _not_found(request, lang)
    record = notify_repository.get_token_by_hash(session, token_lookup_hash(token))
    if record is None or record.expires_at <= utcnow():
        return _not_found(request, lang)
    order = session.get(Order, record.order_id)
    hospital = session.get(Hospital, record.hospital_id)
    assert order is not None and order.id is not None and hospital is not None
    attempt = session.get(BookingAttempt, order.current_attempt_id) if order.current_attempt_id else None
    driver_phone = normalize_id_phone(attempt.driver_phone) if attempt and attempt.driver_phone else None
    steps = [e for e in orders_repository.events_for(session, order.id) if e.kind == "state" and e.to_status]
    context = {
        "lang": lang,
        "hospital": hospital,
        "order": order,
        "steps": steps,
        "driver_name": attempt.driver_name if attempt else None,
        "plate": attempt.vehicle_plate if attempt else None,
        "driver_phone": mask_phone(driver_phone) if driver_phone else None,
        # Only while the parcel is on its way: the PIN is what the patient tells the driver at the door.
        "handover_pin": order.handover_pin if order.status in PIN_SHOWN else None,
    }
    return templates.TemplateResponse(request, "track.html", context, headers=PRIVATE_HEADERS)
