"""Lalamove Open API v3 courier (Jakarta, Bandung, Surabaya); registered as entry point ``lalamove`` in
``gancang.couriers``."""

from __future__ import annotations

import httpx
from pydantic import BaseModel

from couriers.base import CourierAdapter, CourierPlugin
from couriers.lalamove.client import LalamoveAdapter, LalamoveError
from couriers.lalamove.settings import LalamoveSettings


def build(settings: BaseModel, transport: httpx.BaseTransport | None) -> CourierAdapter:
    """The registry validates settings with ``settings_model``; anything else here is a wiring bug."""
    if not isinstance(settings, LalamoveSettings):
        raise TypeError(f"Lalamove needs LalamoveSettings, got {type(settings).__name__}")
    return LalamoveAdapter(settings, transport=transport)


PLUGIN = CourierPlugin(
    name="lalamove",
    label="Lalamove",
    settings_model=LalamoveSettings,
    build=build,
)

__all__ = ["PLUGIN", "LalamoveAdapter", "LalamoveError", "LalamoveSettings"]
