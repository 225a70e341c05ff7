"""Signed event webhooks to URLs a hospital registers (Standard Webhooks v1, HMAC-SHA256 ``whsec_`` secrets).

Payload (also published as ``event_webhook.schema.json`` next to this module)::

    {
      "type": "order.delivered",                 # <resource>.<event>, lower case
      "timestamp": "2026-11-29T08:15:00Z",       # when the event happened, UTC
      "data": {"order_id": "…", "prescription_number": "…", …}
    }

Headers on every POST:

- ``webhook-id``: unique per event and **unchanged across retries**: dedupe on it.
- ``webhook-timestamp``: unix seconds of the *attempt* (each retry is re-signed), so a receiver can reject
  replays older than its tolerance (the reference library uses 5 minutes).
- ``webhook-signature``: ``v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>``, verifiable with
  ``standardwebhooks.Webhook(secret).verify(body, headers)``.
- ``content-type: application/json``.

The body is compact JSON sent byte for byte as signed; receivers must verify the raw bytes.

Outcome of one attempt: any 2xx is success; 5xx, 408, 429, timeouts and connection errors raise a retryable
:class:`SinkError`; other statuses (3xx: redirects are not followed; 4xx; ``410 Gone`` means the endpoint should
be disabled) raise a non-retryable one. Retries follow :func:`retry_delays` (the Standard Webhooks example
schedule, ~75 h in total) with jitter from :func:`retry_delay`; a ``Retry-After`` longer than the scheduled
delay should win (it is on ``SinkError.retry_after``).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, field_validator
from standardwebhooks import Webhook

from hospital_adapter.sinks.errors import SinkError, is_retryable_status, parse_retry_after

__all__ = [
    "EventWebhookSettings",
    "SinkError",
    "build_event",
    "retry_delay",
    "retry_delays",
    "send_event",
    "sign_payload",
]

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
MSG_ID = re.compile(r"^[A-Za-z0-9_\-]{1,128}$")  # the spec forbids "." in ids; we also forbid spaces
USER_AGENT = "Gancang-Webhooks/1.0"

# Standard Webhooks spec "Operational considerations", example schedule (after the immediate first attempt).
RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)
JITTER = 0.1  # each delay is scaled by a uniform factor in [1 - JITTER, 1 + JITTER]
MAX_DELAY = timedelta(hours=24)


class EventWebhookSettings(BaseModel):
    """One endpoint a hospital registered: HTTPS URL and its own ``whsec_…`` secret."""

    model_config = ConfigDict(hide_input_in_errors=True)  # errors must never echo a secret

    url: str
    secret: SecretStr
    timeout: float = 15.0

    @field_validator("url")
    @classmethod
    def _https(cls, value: str) -> str:
        url = httpx.URL(value)
        local = url.host in ("localhost", "127.0.0.1", "::1")
        if url.scheme != "https" and not (url.scheme == "http" and local):
            raise ValueError("webhook URLs must use https")
        return value

    @field_validator("secret")
    @classmethod
    def _whsec(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        if not raw.startswith(SECRET_PREFIX):
            raise ValueError("webhook secrets start with whsec_")
        try:
            Webhook(raw)
        except Exception as exc:  # bad base64 or empty key; never echo the secret
            raise ValueError("webhook secret is not valid non-empty base64 after whsec_") from exc
        return value


def sign_payload(secret: str | SecretStr, msg_id: str, timestamp: int | datetime, body: bytes) -> str:
    """``v1,<signature>`` over ``{msg_id}.{timestamp}.{body}``; ``timestamp`` is unix seconds or an aware datetime."""
    if isinstance(timestamp, datetime):
        if timestamp.utcoffset() is None:
            raise ValueError("timestamp must be timezone-aware")
        moment = timestamp.astimezone(UTC)  # the library *replaces* tzinfo, so convert first
    elif isinstance(timestamp, int) and not isinstance(timestamp, bool) and timestamp >= 0:
        moment = datetime.fromtimestamp(timestamp, tz=UTC)
    else:
        raise ValueError(f"invalid webhook timestamp {timestamp!r}")
    if not MSG_ID.fullmatch(msg_id):
        raise ValueError(f"invalid webhook id {msg_id!r}")
    key = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    return Webhook(key).sign(msg_id, moment, body.decode("utf-8"))


def event_payload(event_type: str, data: dict[str, Any], at: datetime) -> dict[str, Any]:
    if not EVENT_TYPE.fullmatch(event_type):
        raise ValueError(f"invalid event type {event_type!r}")
    if at.utcoffset() is None:
        raise ValueError("event time must be timezone-aware")
    timestamp = at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return {"type": event_type, "timestamp": timestamp, "data": data}


def build_event(
    event_type: str,
    data: dict[str, Any],
    *,
    msg_id: str,
    at: datetime,
    secret: str | SecretStr,
    sent_at: datetime | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The exact body bytes and headers for one attempt.

    ``at`` is when the event happened (the payload ``timestamp``); ``sent_at`` is the attempt time that goes into
    ``webhook-timestamp`` and the signature (defaults to ``at`` so this function stays pure).
    """
    body = json.dumps(
        event_payload(event_type, data, at), ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")
    attempt = (sent_at or at).astimezone(UTC)
    timestamp = int(attempt.timestamp())
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign_payload(secret, msg_id, timestamp, body),
    }
    return body, headers


def send_event(
    settings: EventWebhookSettings,
    event_type: str,
    data: dict[str, Any],
    msg_id: str,
    at: datetime,
    transport: httpx.BaseTransport | None = None,
    *,
    sent_at: datetime | None = None,
) -> None:
    """POST one signed event; return on 2xx, else raise :class:`SinkError` (see the module docstring).

    Pass the same ``msg_id`` and ``at`` on every retry; ``sent_at`` defaults to now, so each attempt is re-signed.
    """
    body, headers = build_event(
        event_type, data, msg_id=msg_id, at=at, secret=settings.secret, sent_at=sent_at or datetime.now(UTC)
    )
    try:
        with httpx.Client(transport=transport, timeout=settings.timeout, follow_redirects=False) as client:
            response = client.post(settings.url, content=body, headers=headers)
    except httpx.TimeoutException as exc:
        raise SinkError([f"timed out: {type(exc).__name__}"], None, True) from exc
    except httpx.TransportError as exc:
        raise SinkError([f"connection failed: {type(exc).__name__}"], None, True) from exc
    if response.is_success:
        return
    status = response.status_code
    message = response.text.strip()[:300] or response.reason_phrase or f"HTTP {status}"
    if status == 410:
        message = f"endpoint gone, disable it: {message}"
    elif response.is_redirect:
        message = f"redirects are not followed; register the final URL: {message}"
    raise SinkError(
        [message], status, is_retryable_status(status), parse_retry_after(response.headers.get("retry-after"))
    )


def retry_delays() -> tuple[timedelta, ...]:
    """Nominal delays before retry 1, 2, …; after the last one the event is dead-lettered."""
    return RETRY_SCHEDULE


def retry_delay(attempt: int, *, rand: Callable[[], float] = random.random) -> timedelta | None:
    """Delay before retry ``attempt`` (1-based) with ±10 % jitter, capped at 24 h; ``None`` once exhausted."""
    if attempt < 1:
        raise ValueError("attempts are numbered from 1")
    if attempt > len(RETRY_SCHEDULE):
        return None
    factor = 1 - JITTER + 2 * JITTER * rand()
    return min(RETRY_SCHEDULE[attempt - 1] * factor, MAX_DELAY)
