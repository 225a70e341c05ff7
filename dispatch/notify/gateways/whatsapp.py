"""WhatsApp Business Cloud API (Meta): approved templates out, delivery statuses and replies in.

What Meta documents and this follows:

* Sending: ``POST https://graph.facebook.com/{version}/{phone-number-id}/messages`` with a bearer access
  token and ``{"messaging_product": "whatsapp", "to": …, "type": "template", "template": {"name",
  "language": {"code"}, "components": [{"type": "body", "parameters": [{"type": "text", "text"}]}]}}``.
  A message the business starts (every one of ours) must be an approved template; free text is only
  allowed within 24 hours of the patient's last message, so ``send`` (free text) is for replies only.
  The answer carries ``messages[0].id`` ("wamid…").
* Errors: ``{"error": {"message", "type", "code", "error_data": {"details"}, "fbtrace_id"}}``. Throughput
  and temporary codes (4, 80007, 130429, 131000, 131056, 133004; HTTP 429/5xx) are retried, others refused.
* Webhooks: every POST is signed ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body, keyed
  with the app secret>``; ``entry[].changes[].value`` holds ``statuses`` (sent, delivered, read, failed,
  with ``errors``) and ``messages`` (the patient's replies). Before using a URL Meta calls it with GET
  ``hub.mode=subscribe``, ``hub.verify_token`` and ``hub.challenge``, expecting the challenge back.

What is configuration: the Graph API version, which kinds have a template, each template's name and the
fields its body parameters take in order, and the language codes the templates were approved under.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from dispatch.notify.gateways import (
    Callback,
    CallbackPayloadError,
    GatewayUnavailable,
    InboundMessage,
    Receipt,
    SendResult,
)
from dispatch.notify.gateways.http import call_provider, raise_if_unavailable

__all__ = ["TemplateSpec", "WhatsAppGateway", "WhatsAppSettings", "hub_signature"]

TemplateField = Literal["hospital", "link", "pin", "courier", "plate", "eta"]

# Rate limits and "try again" errors from Meta's error-code reference.
_RETRYABLE_CODES = frozenset({1, 2, 4, 80007, 130429, 131000, 131056, 133004})
_RECEIPT_STATUS: Mapping[str, Literal["sent", "delivered", "read", "failed"]] = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "failed": "failed",
}
# Meta rejects an empty template parameter; a field the message does not have (no plate yet) shows as this.
_ABSENT = "-"


class TemplateSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9_]{1,512}$", description="The approved template's name")
    parameters: tuple[TemplateField, ...] = Field(
        default=(), description="What fills {{1}}, {{2}}, … of the template body, in order"
    )


class WhatsAppSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    phone_number_id: str = Field(pattern=r"^\d{5,20}$")
    access_token: SecretStr = Field(min_length=1)
    app_secret: SecretStr = Field(min_length=1, description="Signs the webhooks (X-Hub-Signature-256)")
    verify_token: SecretStr = Field(min_length=8, description="Echoed in Meta's GET subscription handshake")
    api_version: str = Field(default="v21.0", pattern=r"^v\d+\.\d+$")
    graph_base_url: str = Field(default="https://graph.facebook.com", pattern=r"^https?://")
    templates: dict[str, TemplateSpec] = Field(
        default_factory=dict, description="Our message kind -> its approved template"
    )
    language_codes: dict[str, str] = Field(
        default_factory=lambda: {"id": "id", "en": "en"},
        description="The language code each template was approved under, per patient language",
    )
    timeout_seconds: float = Field(default=10.0, gt=0, le=60)


def hub_signature(app_secret: str, body: bytes) -> str:
    """X-Hub-Signature-256 for ``body``: "sha256=" and the hex HMAC-SHA256 keyed with the app secret."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


class WhatsAppGateway:
    name: ClassVar[str] = "whatsapp"

    def __init__(self, **options: Any) -> None:
        self.settings = WhatsAppSettings(**options)

    @property
    def _messages_url(self) -> str:
        base = self.settings.graph_base_url.rstrip("/")
        return f"{base}/{self.settings.api_version}/{self.settings.phone_number_id}/messages"

    def has_template(self, kind: str) -> bool:
        return kind in self.settings.templates

    def send_template(self, to_e164: str, kind: str, lang: str, fields: Mapping[str, str]) -> SendResult:
        spec = self.settings.templates[kind]
        language = self.settings.language_codes.get(lang, lang)
        template: dict[str, Any] = {"name": spec.name, "language": {"code": language}}
        if spec.parameters:
            parameters = [{"type": "text", "text": fields.get(name) or _ABSENT} for name in spec.parameters]
            template["components"] = [{"type": "body", "parameters": parameters}]
        return self._post({"type": "template", "template": template}, to_e164)

    def send(self, to_e164: str, text: str) -> SendResult:
        """Free text: only delivered within 24 hours of the patient's last message (a reply to a reply)."""
        return self._post({"type": "text", "text": {"body": text}}, to_e164)

    def _post(self, message: dict[str, Any], to_e164: str) -> SendResult:
        payload = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to_e164.lstrip("+")}
        token = self.settings.access_token.get_secret_value()
        response = call_provider(
            "WhatsApp",
            self.settings.timeout_seconds,
            lambda client: client.post(
                self._messages_url, json=payload | message, headers={"Authorization": f"Bearer {token}"}
            ),
        )
        error = _error(response)
        raise_if_unavailable("WhatsApp", response, _error_text(error))
        if error:
            if error.get("code") in _RETRYABLE_CODES:
                raise GatewayUnavailable(f"WhatsApp {_error_text(error)}"[:500])
            return SendResult("", "failed", _error_text(error) or f"HTTP {response.status_code}")
        messages = _json(response).get("messages")
        first = messages[0] if isinstance(messages, list) and messages else {}
        message_id = first.get("id") if isinstance(first, dict) else None
        if not isinstance(message_id, str):
            return SendResult("", "queued", f"WhatsApp answered {response.status_code} without a message id")
        return SendResult(message_id, "queued")

    def answer_subscription(self, query: Mapping[str, str]) -> str | None:
        token = query.get("hub.verify_token", "")
        expected = self.settings.verify_token.get_secret_value()
        if query.get("hub.mode") != "subscribe" or not hmac.compare_digest(token.encode(), expected.encode()):
            return None
        return query.get("hub.challenge", "")

    def verify_callback(self, url: str, headers: Mapping[str, str], body: bytes) -> bool:
        given = next((v for k, v in headers.items() if k.lower() == "x-hub-signature-256"), "")
        expected = hub_signature(self.settings.app_secret.get_secret_value(), body)
        return bool(given) and hmac.compare_digest(given.encode(), expected.encode())

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> Callback:
        """Any shape other than Meta's (a list where an object goes, a null) is a CallbackPayloadError."""
        try:
            return self._callback(json.loads(body))
        except CallbackPayloadError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CallbackPayloadError(f"not a WhatsApp webhook: {type(exc).__name__}") from exc

    def _callback(self, document: Any) -> Callback:
        values = [
            change["value"]
            for entry in document["entry"]
            for change in entry["changes"]
            if change.get("field") == "messages"
        ]
        receipts: list[Receipt] = []
        inbound: list[InboundMessage] = []
        for value in values:
            # One app can serve several numbers: only this hospital's number is ours to read.
            if str(value.get("metadata", {}).get("phone_number_id")) != self.settings.phone_number_id:
                continue
            receipts.extend(_receipt(status) for status in value.get("statuses", []))
            inbound.extend(
                InboundMessage("+" + str(message.get("from", "")), text, "whatsapp")
                for message in value.get("messages", [])
                if (text := _text_of(message))
            )
        return Callback(receipts=tuple(receipts), inbound=tuple(inbound))


def _receipt(status: Mapping[str, Any]) -> Receipt:
    provider_status = str(status.get("status", ""))
    normalised = _RECEIPT_STATUS.get(provider_status)
    if normalised is None or not status.get("id"):
        raise CallbackPayloadError(f"unknown WhatsApp status {provider_status!r}")
    errors = status.get("errors") or []
    error = _error_text(errors[0]) if errors and isinstance(errors[0], dict) else ""
    return Receipt(str(status["id"]), normalised, provider_status, error)


def _text_of(message: Mapping[str, Any]) -> str:
    """What the patient wrote or tapped: a text body, or a quick-reply button's label."""
    if message.get("type") == "text":
        return str(message.get("text", {}).get("body", ""))
    if message.get("type") == "button":
        return str(message.get("button", {}).get("text", ""))
    return ""


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error(response: httpx.Response) -> dict[str, Any]:
    error = _json(response).get("error")
    if isinstance(error, dict):
        return error
    return {} if response.is_success else {"message": f"HTTP {response.status_code}"}


def _error_text(error: Mapping[str, Any]) -> str:
    """ "WhatsApp 131026: Message undeliverable (…details…)": code, title or message, and Meta's details."""
    if not error:
        return ""
    details = (
        error.get("error_data", {}).get("details") if isinstance(error.get("error_data"), dict) else None
    )
    text = f"WhatsApp {error.get('code', '?')}: {error.get('title') or error.get('message', '')}"
    return (f"{text} ({details})" if details else text)[:500]
