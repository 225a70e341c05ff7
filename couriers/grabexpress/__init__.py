"""GrabExpress partner API (OAuth2 client credentials); registered as entry point ``grabexpress`` in ``gancang.couriers``."""

from __future__ import annotations

import httpx
from pydantic import BaseModel

from couriers.base import CourierAdapter, CourierPlugin
from couriers.grabexpress.client import GrabExpressAdapter
from couriers.grabexpress.settings import GrabExpressSettings


def build(settings: BaseModel, transport: httpx.BaseTransport | None) -> CourierAdapter:
    """The registry validates settings with ``settings_model``; anything else here is a wiring bug."""
    if not isinstance(settings, GrabExpressSettings):
        raise TypeError(f"GrabExpress needs GrabExpressSettings, got {type(settings).__name__}")
    return GrabExpressAdapter(settings, transport=transport)


PLUGIN = CourierPlugin(
    name="grabexpress",
    label="GrabExpress",
    settings_model=GrabExpressSettings,
    build=build,
)

__all__ = ["PLUGIN", "GrabExpressAdapter", "GrabExpressSettings", "build"]
