"""Twilio's Programmable Messaging (Messages API), with its status callbacks and inbound replies.

What Twilio documents and this follows:

* Sending: ``POST https://api.twilio.com/2010-04-01/Accounts/{AccountSid}/Messages.json``, HTTP basic auth
  (Account SID, Auth Token), form-encoded ``To``, ``Body``, one of ``From`` or ``MessagingServiceSid``, and
  optionally ``StatusCallback``. The answer (201) is the Message resource: ``sid`` ("SM…") and ``status``.
* Errors: a JSON body ``{"code", "message", "more_info", "status"}``; 429 (code 20429) and 5xx are
  worth retrying, everything else is a refusal. Code 21610 means the recipient replied STOP to this sender
  and Twilio now blocks messages to them: recorded as an opt-out, not as a failure.
* Callbacks: Twilio signs every webhook with ``X-Twilio-Signature``, the base64 HMAC-SHA1 (key: the Auth
  Token) of the full URL it called followed by each POST parameter, sorted by name, as name + value with no
  separators. Status callbacks carry ``MessageSid``, ``MessageStatus`` and ``ErrorCode``; an inbound SMS
  carries ``From``, ``Body`` and ``SmsStatus=received``.

What is configuration rather than fact: the API base URL (regional or test endpoints), and the
``status_callback`` address, which must be ``{GANCANG_PUBLIC_BASE_URL}/webhooks/messages/twilio``: Twilio
signs the URL it calls, so the one we check against is ours to state.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qsl

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from dispatch.notify.gateways import (
    Callback,
    CallbackPayloadError,
    InboundMessage,
    Receipt,
    SendResult,
)
from dispatch.notify.gateways.http import call_provider, raise_if_unavailable

__all__ = ["TwilioGateway", "TwilioSettings", "twilio_signature"]

UNSUBSCRIBED_RECIPIENT = 21610

# Message resource statuses (Twilio's "Message status values") and what each means for the patient.
_SEND_STATUS: Mapping[str, Literal["queued", "sent", "failed"]] = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "sent",
    "sent": "sent",
    "delivered": "sent",
    "read": "sent",
    "failed": "failed",
    "undelivered": "failed",
    "canceled": "failed",
}
_RECEIPT_STATUS: Mapping[str, Literal["queued", "sent", "delivered", "read", "failed"]] = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "sent",
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "failed": "failed",
    "undelivered": "failed",
    "canceled": "failed",
}


class TwilioSettings(BaseModel):
    """A hospital's Twilio account; the Auth Token both authenticates sends and signs callbacks."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: SecretStr = Field(min_length=1)
    from_number: str | None = Field(
        default=None,
        pattern=r"^(\+[1-9]\d{6,14}|[A-Za-z0-9 ]{1,11})$",
        description="An E.164 number or an alphanumeric sender id (at most 11 characters)",
    )
    messaging_service_sid: str | None = Field(default=None, pattern=r"^MG[0-9a-fA-F]{32}$")
    status_callback: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="{GANCANG_PUBLIC_BASE_URL}/webhooks/messages/twilio, for delivery reports",
    )
    api_base_url: str = Field(default="https://api.twilio.com", pattern=r"^https?://")
    timeout_seconds: float = Field(default=10.0, gt=0, le=60)

    @model_validator(mode="after")
    def _one_sender(self) -> TwilioSettings:
        """Twilio needs exactly one of From and MessagingServiceSid."""
        if (self.from_number is None) == (self.messaging_service_sid is None):
            raise ValueError("give exactly one of from_number and messaging_service_sid")
        return self


def twilio_signature(auth_token: str, url: str, params: list[tuple[str, str]]) -> str:
    """X-Twilio-Signature for a form-encoded request: base64 HMAC-SHA1 of the URL + sorted name/value pairs."""
    signed = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


class TwilioGateway:
    name: ClassVar[str] = "twilio"

    def __init__(self, **options: Any) -> None:
        self.settings = TwilioSettings(**options)

    @property
    def _messages_url(self) -> str:
        base = self.settings.api_base_url.rstrip("/")
        return f"{base}/2010-04-01/Accounts/{self.settings.account_sid}/Messages.json"

    def send(self, to_e164: str, text: str) -> SendResult:
        form = {"To": to_e164, "Body": text}
        if self.settings.messaging_service_sid is not None:
            form["MessagingServiceSid"] = self.settings.messaging_service_sid
        else:
            assert self.settings.from_number is not None
            form["From"] = self.settings.from_number
        if self.settings.status_callback is not None:
            form["StatusCallback"] = self.settings.status_callback
        auth = (self.settings.account_sid, self.settings.auth_token.get_secret_value())
        response = call_provider(
            "Twilio",
            self.settings.timeout_seconds,
            lambda client: client.post(self._messages_url, data=form, auth=auth),
        )
        body = _json_object(response)
        raise_if_unavailable("Twilio", response, _error_text(body))
        if response.status_code not in (200, 201):
            if body.get("code") == UNSUBSCRIBED_RECIPIENT:
                return SendResult("", "opted_out", _error_text(body))
            return SendResult("", "failed", _error_text(body) or f"HTTP {response.status_code}")
        sid = body.get("sid")
        if not isinstance(sid, str) or not sid:
            # Twilio took the request but the answer is unreadable: it may well be sent, never resend it.
            return SendResult("", "queued", f"Twilio answered {response.status_code} without a message sid")
        status = _SEND_STATUS.get(str(body.get("status")), "queued")
        detail = _error_text(body) if status == "failed" else ""
        return SendResult(sid, status, detail)

    def verify_callback(self, url: str, headers: Mapping[str, str], body: bytes) -> bool:
        given = _header(headers, "x-twilio-signature")
        if not given:
            return False
        params = _form(body)
        if params is None:
            return False
        expected = twilio_signature(self.settings.auth_token.get_secret_value(), url, params)
        return hmac.compare_digest(given.encode(), expected.encode())

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> Callback:
        params = _form(body)
        if params is None:
            raise CallbackPayloadError("not a form-encoded body")
        fields = dict(params)
        if fields.get("AccountSid") not in (None, self.settings.account_sid):
            raise CallbackPayloadError("callback for another Twilio account")
        sid = fields.get("MessageSid") or fields.get("SmsSid")
        if not sid:
            raise CallbackPayloadError("no MessageSid")
        if "Body" in fields and (fields.get("SmsStatus") or fields.get("MessageStatus")) == "received":
            sender = fields.get("From", "")
            channel = "whatsapp" if sender.startswith("whatsapp:") else "sms"
            return Callback(
                inbound=(InboundMessage(sender.removeprefix("whatsapp:"), fields["Body"], channel),)
            )
        provider_status = fields.get("MessageStatus") or fields.get("SmsStatus") or ""
        status = _RECEIPT_STATUS.get(provider_status)
        if status is None:
            raise CallbackPayloadError(f"unknown MessageStatus {provider_status!r}")
        error = f"Twilio error {fields['ErrorCode']}" if fields.get("ErrorCode") else ""
        return Callback(receipts=(Receipt(sid, status, provider_status, error),))


def _header(headers: Mapping[str, str], name: str) -> str:
    return next((value for key, value in headers.items() if key.lower() == name), "")


def _form(body: bytes) -> list[tuple[str, str]] | None:
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        return None


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error_text(body: Mapping[str, Any]) -> str:
    """Twilio's error as staff read it: "Twilio 21211: The 'To' number … is not a valid phone number."."""
    code = body.get("code") or body.get("error_code")
    message = body.get("message") or body.get("error_message")
    if code is None and message is None:
        return ""
    return f"Twilio {code}: {message}"[:500]
