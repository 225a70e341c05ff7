"""Zenziva, an Indonesian HTTP SMS gateway, as its customers' integrations call it.

Zenziva's own API page (zenziva.id/apidoc) was not available when this was written; what follows is the
form every public integration found uses, and each part that may differ is a setting, not a constant:

* ``POST https://console.zenziva.net/reguler/api/sendsms/`` (setting ``url``: the "reguler" product; other
  Zenziva products have other paths), form fields ``userkey``, ``passkey``, ``to``, ``message``.
* The answer is JSON ``{"messageId", "to", "status", "text"}``; ``status`` "1" means accepted, anything else
  is a refusal explained by ``text``. Whether a refusal is worth retrying is not documented, so only HTTP
  429/5xx and transport failures are retried; a refusal is recorded for staff.
* Numbers: integrations send the national form ("0812…"); ``number_format`` can switch to "62812…".
* The sender id (masking) belongs to the Zenziva account, not to the request, so there is no sender option.
* No delivery-report webhook is documented, so this gateway has no callbacks: its messages stay "queued"
  or "sent" as Zenziva answered.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from dispatch.notify.gateways import SendResult
from dispatch.notify.gateways.http import call_provider, raise_if_unavailable

__all__ = ["ZenzivaGateway", "ZenzivaSettings"]

_ACCEPTED = "1"


class ZenzivaSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    userkey: str = Field(min_length=1)
    passkey: SecretStr = Field(min_length=1)
    url: str = Field(default="https://console.zenziva.net/reguler/api/sendsms/", pattern=r"^https?://")
    number_format: Literal["national", "international"] = Field(
        default="national", description='national: "0812…"; international: "62812…" (no plus)'
    )
    timeout_seconds: float = Field(default=10.0, gt=0, le=60)


class ZenzivaGateway:
    name: ClassVar[str] = "zenziva"

    def __init__(self, **options: Any) -> None:
        self.settings = ZenzivaSettings(**options)

    def _number(self, to_e164: str) -> str:
        digits = to_e164.removeprefix("+")
        if self.settings.number_format == "national" and digits.startswith("62"):
            return "0" + digits[2:]
        return digits

    def send(self, to_e164: str, text: str) -> SendResult:
        form = {
            "userkey": self.settings.userkey,
            "passkey": self.settings.passkey.get_secret_value(),
            "to": self._number(to_e164),
            "message": text,
        }
        response = call_provider(
            "Zenziva", self.settings.timeout_seconds, lambda client: client.post(self.settings.url, data=form)
        )
        try:
            body = response.json()
        except ValueError:
            body = None
        answer: dict[str, Any] = body if isinstance(body, dict) else {}
        detail = str(answer.get("text") or "")[:300]
        raise_if_unavailable("Zenziva", response, detail)
        if response.status_code != 200 or str(answer.get("status")) != _ACCEPTED:
            return SendResult("", "failed", f"Zenziva: {detail or f'HTTP {response.status_code}'}"[:500])
        return SendResult(str(answer.get("messageId") or ""), "queued")
