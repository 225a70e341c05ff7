"""GoSend (Gojek) instant courier, gokilat v10 API; registered as entry point ``gosend`` in ``gancang.couriers``."""

from __future__ import annotations

import httpx
from pydantic import BaseModel

from couriers.base import CourierAdapter, CourierPlugin
from couriers.gosend.client import GoSendAdapter
from couriers.gosend.settings import GoSendSettings


def build(settings: BaseModel, transport: httpx.BaseTransport | None) -> CourierAdapter:
    """The registry validates settings with ``settings_model``; anything else here is a wiring bug."""
    if not isinstance(settings, GoSendSettings):
        raise TypeError(f"GoSend needs GoSendSettings, got {type(settings).__name__}")
    return GoSendAdapter(settings, transport=transport)


PLUGIN = CourierPlugin(
    name="gosend",
    label="GoSend",
    settings_model=GoSendSettings,
    build=build,
)

__all__ = ["PLUGIN", "GoSendAdapter", "GoSendSettings"]
