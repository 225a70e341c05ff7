"""Local-partner HTTP I/O: signed job messages out, signed status reports in, failures as :class:`CourierError`."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal
from urllib.parse import quote

import httpx
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from couriers.base import Booking, Capabilities, CourierError, CourierEvent, DeliveryRequest, Quote
from couriers.http import HttpAdapter, json_or_none
from couriers.webhook import mapper
from couriers.webhook.settings import JOB_ID_PLACEHOLDER, WebhookPartnerSettings
from hospital_adapter.sinks.errors import is_retryable_status, parse_retry_after
from hospital_adapter.sinks.event_webhooks import MSG_ID, USER_AGENT, build_event, sign_payload

logger = logging.getLogger(__name__)

# The reference library also takes "1614265330.0"; the spec's timestamp is integer seconds.
_UNIX_SECONDS = re.compile(r"^[0-9]{1,12}$")


class WebhookPartnerAdapter(HttpAdapter):
    """The adapter for local partners, who implement the protocol we publish instead of an API of their own.

    Booking is idempotent by construction: the job id is our reference and each job message keeps one
    webhook-id across retries, so the partner drops repeats. ``retryable`` on a :class:`CourierError` covers
    5xx, 408, 429 (with ``retry_after``), timeouts and connection failures; other answers are the partner's
    refusal, such as 409/410 to a cancellation after pick-up.
    """

    name: ClassVar[str] = mapper.COURIER

    def __init__(
        self, settings: WebhookPartnerSettings, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self._settings = settings
        super().__init__(transport)

    def _client_options(self) -> dict[str, Any]:
        # Redirects are not followed: Standard Webhooks counts a 3xx as a failed delivery.
        return {"timeout": self._settings.timeout_seconds, "follow_redirects": False}

    @property
    def capabilities(self) -> Capabilities:
        settings = self._settings
        return Capabilities(
            instant=True,
            same_day=settings.same_day,
            max_distance_km=settings.max_distance_km,
            cold_chain=settings.cold_chain,
            service_areas=settings.service_areas,
            handover_pin=True,
        )

    def quote(self, request: DeliveryRequest) -> Quote:
        """Priced from the agreed tariff: a local partner has no price API, and the quote must not cost a call."""
        service, distance, price = self._priced(request)
        return mapper.quote(service, distance, price)

    def book(self, request: DeliveryRequest, quote: Quote | None = None) -> Booking:
        """Send ``job.offered``; the fee is recomputed from the tariff, which is all a quote would say."""
        _service, distance, price = self._priced(request)
        data = mapper.offer_data(request, distance_km=distance, price_idr=price)
        job = data["job_id"]
        response = self._post("job.offered", data, mapper.message_id(job, "offered"))
        return mapper.parse_booking(json_or_none(response), request)

    def cancel(self, provider_order_id: str) -> None:
        data = mapper.cancel_data(provider_order_id)
        self._post("job.cancelled", data, mapper.message_id(provider_order_id, "cancelled"))

    def status(self, provider_order_id: str) -> CourierEvent:
        if self._settings.status_url is None:
            raise CourierError(
                ["this partner has no status URL; its status arrives only by webhook"], retryable=False
            )
        response = self._lookup(provider_order_id)
        if response.status_code == httpx.codes.NOT_FOUND:
            raise CourierError([f"the partner does not know job {provider_order_id!r}"], status_code=404)
        return mapper.parse_status(response.content, provider_order_id)

    def find_by_reference(self, reference: str) -> CourierEvent | None:
        """The partner's status lookup when it has one; otherwise None ("not known to be booked").

        None is safe without a lookup: the dispatcher then books again, and the repeated ``job.offered``
        carries the same job id and webhook-id, which the partner drops as a repeat. Answering with a made-up
        REQUESTED event instead would be worse: after a booking that never reached the partner, the job would
        never be sent at all.
        """
        if self._settings.status_url is None:
            return None
        response = self._lookup(reference)
        if response.status_code == httpx.codes.NOT_FOUND:
            return None
        return mapper.parse_status(response.content, reference)

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Standard Webhooks v1: HMAC over id, timestamp and the raw body, within 5 minutes either way.

        Fails closed: no configured secret refuses everything. Malformed headers make the library raise
        ValueError (a signature without a comma, bad base64, a body that is not UTF-8); all of them are a refusal.
        """
        secret = self._settings.webhook_secret
        if secret is None:
            return False
        lowered = {key.lower(): value for key, value in headers.items()}
        # Our event ids are built from webhook-id, so it must be a plain token; the timestamp integer seconds.
        if not MSG_ID.fullmatch(lowered.get("webhook-id", "")):
            return False
        if not _UNIX_SECONDS.fullmatch(lowered.get("webhook-timestamp", "")):
            return False
        try:
            Webhook(secret.get_secret_value()).verify(body, lowered, json_parse=False)
        except (WebhookVerificationError, ValueError):
            return False
        return True

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> CourierEvent:
        return mapper.parse_webhook(headers, body)

    def _priced(self, request: DeliveryRequest) -> tuple[str, float, int]:
        capabilities = self.capabilities
        service = mapper.ensure_offered(request.service, capabilities)
        distance = mapper.ensure_served(request, capabilities)
        price = mapper.fee_idr(
            distance, base_fee_idr=self._settings.base_fee_idr, per_km_idr=self._settings.per_km_idr
        )
        return service, distance, price

    def _post(
        self, event_type: Literal["job.offered", "job.cancelled"], data: dict[str, Any], msg_id: str
    ) -> httpx.Response:
        """Sign and send one job message; every attempt is re-signed with its own time, the id stays."""
        body, headers = build_event(
            event_type, data, msg_id=msg_id, at=datetime.now(UTC), secret=self._settings.signing_secret
        )
        return self._send("POST", self._settings.url, event_type, content=body, headers=headers)

    def _lookup(self, job: str) -> httpx.Response:
        """GET the partner's status URL, signed like a webhook over an empty body so the partner verifies it
        with the same code; a fresh id each time, since a lookup is not a message to de-duplicate."""
        assert self._settings.status_url is not None
        url = self._settings.status_url.replace(JOB_ID_PLACEHOLDER, quote(mapper.job_id(job), safe=""))
        msg_id = f"msg_status_{uuid.uuid4().hex}"
        timestamp = int(datetime.now(UTC).timestamp())
        headers = {
            "accept": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign_payload(self._settings.signing_secret, msg_id, timestamp, b""),
        }
        return self._send("GET", url, "status", headers=headers, not_found_ok=True)

    def _send(
        self,
        method: str,
        url: str,
        operation: str,
        *,
        headers: Mapping[str, str],
        content: bytes | None = None,
        not_found_ok: bool = False,
    ) -> httpx.Response:
        # Logs name the operation only: the URL may carry a partner's token and the body a patient's address.
        try:
            response = self._http.request(method, url, content=content, headers=headers)
        except httpx.TimeoutException as exc:
            logger.warning("webhook partner %s timed out", operation)
            raise CourierError([f"partner timed out: {type(exc).__name__}"], retryable=True) from exc
        except httpx.TransportError as exc:
            logger.warning("webhook partner %s failed: %s", operation, type(exc).__name__)
            raise CourierError([f"partner unreachable: {type(exc).__name__}"], retryable=True) from exc
        status = response.status_code
        if response.is_success or (not_found_ok and status == httpx.codes.NOT_FOUND):
            return response
        messages = mapper.error_messages(json_or_none(response), response.text)
        if response.is_redirect:
            messages = ["redirects are not followed; configure the partner's final URL", *messages]
        logger.warning("webhook partner %s answered HTTP %s: %s", operation, status, messages)
        raise CourierError(
            messages or [f"partner answered HTTP {status} to {operation}"],
            status_code=status,
            retryable=is_retryable_status(status),
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )
