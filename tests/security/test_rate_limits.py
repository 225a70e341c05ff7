"""Rate limits on what anyone can reach: failed logins per client, tracking links per token and per client,
intake per API key; each answered 429 with Retry-After in its protocol's own form."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import redis
from security_support import FHIR_JSON, HL7_MESSAGE

from dispatch.core import ratelimit
from dispatch.core.ratelimit import Limit
from dispatch.demo_data import PATIENTS, demo_bundle

TOKEN = "B" * 43


@pytest.fixture
def limits(monkeypatch):
    """Small limits, so a test reaches them in a few requests; counted from zero (setting up the hospitals sent
    bundles with their keys), so the test asks for this after its hospitals."""
    ratelimit.reset()
    # Windows are aligned to the clock: a test's few requests must not straddle a window's end (the third
    # request counted afresh in the next minute). The limiter's clock stands at 30 s into a minute.
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: 1_800_000_030.0))

    def set_limit(name: str, requests: int) -> None:
        current = getattr(ratelimit, name)
        monkeypatch.setattr(ratelimit, name, Limit(current.name, requests, current.window_seconds))

    return set_limit


def _retry_after(response) -> int:
    return int(response.headers["retry-after"])


def test_failed_logins_from_one_client_are_limited_across_usernames(client, tenant_a, limits):
    limits("LOGIN_FAILURES_PER_CLIENT", 3)
    for n in range(3):
        wrong = client.post(
            "/api/v1/auth/login", json={"username": f"guess{n}", "password": "wrong-password"}
        )
        assert wrong.status_code == 401

    right = {"username": f"{tenant_a.code}-admin", "password": f"{tenant_a.code}-admin-password-1"}
    throttled = client.post("/api/v1/auth/login", json=right)
    console = client.post("/console/login", data=right, follow_redirects=False)

    assert throttled.status_code == 429
    assert throttled.headers["content-type"] == "application/problem+json"
    assert 0 < _retry_after(throttled) <= 15 * 60
    assert throttled.json()["title"] == "Too many failed logins"
    assert console.status_code == 429 and 0 < _retry_after(console) <= 15 * 60
    assert "Too many failed logins" in console.text
    ratelimit.reset()
    assert client.post("/api/v1/auth/login", json=right).status_code == 200


def test_successful_logins_are_not_counted(client, tenant_a, limits):
    """A hospital's staff share one address at the shift change."""
    limits("LOGIN_FAILURES_PER_CLIENT", 2)
    right = {"username": f"{tenant_a.code}-admin", "password": f"{tenant_a.code}-admin-password-1"}

    assert [client.post("/api/v1/auth/login", json=right).status_code for _ in range(4)] == [200] * 4


def test_a_tracking_link_is_limited_per_token(client, limits):
    limits("TRACKING_PER_TOKEN", 3)

    answers = [client.get(f"/t/{TOKEN}").status_code for _ in range(4)]
    throttled = client.get(f"/t/{TOKEN}?lang=en")
    another = client.get("/t/" + "C" * 43)

    assert answers == [404, 404, 404, 429]
    assert throttled.status_code == 429 and throttled.headers["content-type"].startswith("text/html")
    assert "Please wait a moment" in throttled.text and 0 < _retry_after(throttled) <= 60
    assert throttled.headers["cache-control"] == "no-store"
    assert another.status_code == 404


def test_tracking_is_limited_per_client_across_tokens(client, limits):
    limits("TRACKING_PER_CLIENT", 3)

    answers = [client.get(f"/t/{letter * 43}").status_code for letter in "DEFG"]
    posted = client.post("/t/" + "H" * 43 + "/received", data={"lang": "id"}, follow_redirects=False)

    assert answers == [404, 404, 404, 429]
    assert posted.status_code == 429 and _retry_after(posted) > 0


def test_fhir_intake_is_limited_per_api_key_with_an_operation_outcome(client, tenant_a, tenant_b, limits):
    limits("INTAKE_PER_KEY", 2)

    def post(key: str, rx: str):
        return client.post(
            "/fhir/r4/Bundle",
            content=json.dumps(demo_bundle(PATIENTS[0], rx)),
            headers={"Authorization": f"Bearer {key}", "Content-Type": FHIR_JSON},
        )

    answers = [post(tenant_a.api_key, f"RX-RL-{n}") for n in range(3)]
    other_key = post(tenant_b.api_key, "RX-RL-B")

    assert [a.status_code for a in answers[:2]] == [201, 201]
    throttled = answers[2]
    assert throttled.status_code == 429 and 0 < _retry_after(throttled) <= 60
    assert throttled.headers["content-type"].startswith(FHIR_JSON)
    outcome = throttled.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert [issue["code"] for issue in outcome["issue"]] == ["throttled"]
    assert other_key.status_code == 201


def test_hl7_intake_is_limited_per_api_key_with_an_ack_ar(client, tenant_a, limits):
    limits("INTAKE_PER_KEY", 1)
    headers = {"Authorization": f"Bearer {tenant_a.api_key}", "Content-Type": "application/hl7-v2"}

    first = client.post("/hl7v2", content=HL7_MESSAGE, headers=headers)
    throttled = client.post("/hl7v2", content=HL7_MESSAGE, headers=headers)

    assert first.status_code != 429
    assert throttled.status_code == 429 and 0 < _retry_after(throttled) <= 60
    segments = throttled.text.split("\r")
    assert segments[1].startswith("MSA|AR|MSG0001|Too many requests")
    assert any(segment.startswith("ERR|") for segment in segments)


def test_intake_without_a_key_is_limited_per_client(client, limits):
    limits("INTAKE_PER_KEY", 1)

    answers = [
        client.post("/fhir/r4/Bundle", content=b"{}", headers={"Content-Type": FHIR_JSON}) for _ in range(2)
    ]

    assert [a.status_code for a in answers] == [401, 429]


def test_the_in_process_counter_counts_per_window_and_forgets(monkeypatch):
    counter = ratelimit._MemoryCounter()
    monkeypatch.setattr(ratelimit, "_counter", counter)
    limit = Limit("unit", 2, 60)

    assert [ratelimit.hit(limit, "k") for _ in range(2)] == [None, None]
    wait = ratelimit.hit(limit, "k")
    assert wait is not None and 0 < wait <= 60
    assert ratelimit.exceeded(limit, "k") is not None
    assert ratelimit.hit(limit, "other") is None
    ratelimit.reset()
    assert ratelimit.hit(limit, "k") is None


def test_a_broken_redis_lets_requests_through(monkeypatch):
    """A limiter that cannot count must not stop prescriptions or logins."""

    class Down:
        def add_each(self, keys):
            raise redis.ConnectionError("down")

        def current(self, key):
            raise redis.ConnectionError("down")

    monkeypatch.setattr(ratelimit, "_counter", Down())
    limit = Limit("unit", 0, 60)

    assert ratelimit.hit(limit, "k") is None
    assert ratelimit.exceeded(limit, "k") is None


def test_keys_are_stored_hashed(monkeypatch):
    """An API key or tracking token must not sit readable in Redis."""
    seen = []

    class Recorder(ratelimit._MemoryCounter):
        def add(self, key, window_seconds):
            seen.append(key)
            return super().add(key, window_seconds)

    monkeypatch.setattr(ratelimit, "_counter", Recorder())
    ratelimit.hit(ratelimit.INTAKE_PER_KEY, "key:gk_secret-api-key")

    assert len(seen) == 1 and "gk_secret" not in seen[0] and seen[0].startswith(ratelimit.KEY_PREFIX)
