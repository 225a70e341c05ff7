import json

import httpx
import respx

from conftest import BOOKING_PATH, PRIMARY_BASE_URL, apply_outbox, attempts, book_row, outbox_rows, WEBHOOK_TOKEN
from dispatch.orders.models import Order


def test_probe_retry(make_order, primary_account):
    order_id = make_order()
    row = book_row(order_id)
    with respx.mock(base_url=PRIMARY_BASE_URL, assert_all_called=True) as router:
        route = router.post(BOOKING_PATH).mock(return_value=httpx.Response(503, json={"errors": ["busy"]}))
        result = apply_outbox(row.id)
        print("STATE", result.state, repr(result.result), route.call_count)
    print(attempts(order_id))
    print(outbox_rows("dispatch.book"))


def test_probe_webhook(client, booked_order):
    r = client.post("/webhooks/couriers/" + "x" * 80, content=b"{}")
    print("LONG COURIER", r.status_code, r.text)
    body = {"booking_id": "GK-11-170563", "status": "allocated", "event_date": 1, "event_id": "e" * 300}
    r = client.post("/webhooks/couriers/gosend", content=json.dumps(body), headers={"Authorization": WEBHOOK_TOKEN})
    print("LONG EVENT ID", r.status_code, r.text)
    r = client.post("/webhooks/couriers/gosend", content=b'{"a": "\x00"}', headers={"Authorization": WEBHOOK_TOKEN})
    print("NUL", r.status_code, r.text)
