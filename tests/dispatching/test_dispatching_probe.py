import json

import pytest

from conftest import WEBHOOK_TOKEN


@pytest.mark.parametrize("case", ["event", "nul", "driver", "latin1"])
def test_probe_webhook(client, booked_order, case):
    from dispatch.outbox.models import OutboxMessage
    from conftest import outbox_rows, run_outbox
    body = {"booking_id": "GK-11-170563", "status": "allocated", "event_date": 1, "event_id": "e1"}
    raw = None
    if case == "event":
        body["event_id"] = "e" * 300
    if case == "driver":
        body["driver_name"] = "d" * 300
        body["driver_phone"] = "6281234567890, 6281234567891, 6281234567892"
    if case == "nul":
        raw = b'{"a": "\x00"}'
    if case == "latin1":
        raw = json.dumps(body).replace("allocated", "allocated").encode()[:-1] + b', "driver_name": "Jos\xe9"}'
    r = client.post("/webhooks/couriers/gosend", content=raw or json.dumps(body), headers={"Authorization": WEBHOOK_TOKEN})
    print(case, r.status_code, r.text)
    for row in outbox_rows("webhooks.apply"):
        from conftest import apply_outbox
        res = apply_outbox(row.id)
        print(case, "APPLY", res.state, repr(res.result)[:300])
