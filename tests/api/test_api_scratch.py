import json
from fastapi.testclient import TestClient
from dispatch.demo_data import PATIENTS, demo_bundle


def test_scratch(client, api_key, fhir, fetch):
    b = demo_bundle(PATIENTS[0], "RX-1")
    r = fhir.bundle(b)
    print(r.status_code, r.headers, r.text)
    b = demo_bundle(PATIENTS[1], "RX-2")
    b["entry"][3]["resource"]["dosageInstruction"] = [{"text": "x" * 600}]
    c = TestClient(client.app, raise_server_exceptions=False)
    r = c.post("/fhir/r4/Bundle", content=json.dumps(b), headers={"Authorization": f"Bearer {api_key}"})
    print(r.status_code, r.headers, r.text)
    from dispatch.inbox.models import InboxMessage
    for m in fetch(InboxMessage):
        print(m.id, m.status, m.error, m.hospital_id, m.headers)
    b = demo_bundle(PATIENTS[2], "RX-3")
    b["entry"][0]["resource"]["identifier"][0]["value"] = "M" * 80
    r = c.post("/fhir/r4/Bundle", content=json.dumps(b), headers={"Authorization": f"Bearer {api_key}"})
    print(r.status_code, r.headers, r.text)
    r = c.post("/fhir/r4/Bundle", content=b"{bad", headers={"Authorization": f"Bearer {api_key}"})
    print(r.status_code, r.headers, r.text)
    r = c.post("/fhir/r4/Bundle", content=b"{bad")
    print(r.status_code, r.headers, r.text)
    r = c.get("/readyz"); print(r.status_code, r.text)
    r = c.get("/metrics"); print(r.status_code, r.text)
