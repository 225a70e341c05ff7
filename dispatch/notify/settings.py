"""A hospital's messaging settings (``Hospital.messaging_settings``): which gateway per channel, language.

Empty settings are the deployment default: SMS through ``GANCANG_SMS_GATEWAY`` (the console gateway unless
set), in Bahasa Indonesia, and no WhatsApp, so a demo or a test needs no provider account.

WhatsApp is a second channel, used as a fallback: a message goes by SMS first, and only when the SMS
gateway refuses it for good or its delivery report says it failed does the same message go again as the
WhatsApp template of that kind (kinds without an approved template are not sent). Sending both every time
would double the hospital's bill for the many patients whose SMS arrives, and which patients use WhatsApp
is not something the hospital's records say. An opt-out is not a failure: a patient who replied STOP to
the SMS is not chased on WhatsApp.

Gateway options hold provider credentials. They are checked by the gateway's own settings model (by
building it, exactly as sending will), they never appear in this model's repr, and no error message
quotes them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dispatch.notify.gateways import GatewayLoadError, SmsGateway, TemplateGateway, load_gateway

__all__ = ["ChannelGateway", "MessagingSettings", "build_gateway"]


class ChannelGateway(BaseModel):
    """One channel's gateway: an installed gateway's name and the options its constructor takes."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    gateway: str = Field(min_length=1, max_length=32)
    options: dict[str, Any] = Field(default_factory=dict, repr=False)


class MessagingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    language: Literal["id", "en"] = Field(default="id", description="The language patients are written to in")
    sms: ChannelGateway | None = Field(
        default=None, description="The SMS gateway; none: the deployment's GANCANG_SMS_GATEWAY"
    )
    whatsapp: ChannelGateway | None = Field(
        default=None, description="WhatsApp Cloud API, the fallback when an SMS fails; none: no WhatsApp"
    )

    @model_validator(mode="after")
    def _gateways_accept_their_options(self) -> MessagingSettings:
        """Refuse now what sending would refuse later: an unknown gateway, options it rejects, and a
        WhatsApp gateway that cannot send templates."""
        if self.sms is not None:
            build_gateway(self.sms)
        if self.whatsapp is not None and not isinstance(build_gateway(self.whatsapp), TemplateGateway):
            raise ValueError(f"gateway {self.whatsapp.gateway!r} cannot send WhatsApp templates")
        return self


def build_gateway(choice: ChannelGateway) -> SmsGateway:
    """The configured gateway; LookupError / GatewayLoadError (a ValueError for pydantic) name no secret."""
    try:
        return load_gateway(choice.gateway, choice.options)
    except (LookupError, GatewayLoadError) as exc:
        raise ValueError(str(exc)) from exc
