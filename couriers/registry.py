"""Courier plugin discovery through the ``gancang.couriers`` entry-point group.

Failures are loud on purpose: a courier that silently fails to load surfaces later as orders nobody can
dispatch, so a broken entry point, a wrong object behind it, or a name clash raises here.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

import httpx
from pydantic import BaseModel, ValidationError

from couriers.base import CourierAdapter, CourierPlugin

ENTRY_POINT_GROUP = "gancang.couriers"


class PluginLoadError(RuntimeError):
    """An installed courier entry point cannot be used."""


@functools.cache
def _discover() -> dict[str, CourierPlugin]:
    """Loaded once per process: every webhook and booking asks for its courier, and scanning the installed
    distributions' entry points costs milliseconds each time."""
    plugins: dict[str, CourierPlugin] = {}
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            plugin = entry_point.load()
        except Exception as exc:
            raise PluginLoadError(
                f"courier entry point {entry_point.name!r} ({entry_point.value}) failed to load: {exc}"
            ) from exc
        if not isinstance(plugin, CourierPlugin):
            raise PluginLoadError(
                f"courier entry point {entry_point.name!r} ({entry_point.value}) is a "
                f"{type(plugin).__name__}, not a CourierPlugin"
            )
        if plugin.name != entry_point.name:
            raise PluginLoadError(
                f"courier entry point {entry_point.name!r} exposes a plugin named {plugin.name!r}"
            )
        if plugin.name in plugins:
            raise PluginLoadError(f"two installed packages register courier {plugin.name!r}")
        plugins[plugin.name] = plugin
    return plugins


def all_plugins() -> list[CourierPlugin]:
    """Every installed courier, sorted by name so listings and startup checks are stable."""
    return [plugin for _, plugin in sorted(_discover().items())]


def get_plugin(name: str) -> CourierPlugin:
    plugins = _discover()
    try:
        return plugins[name]
    except KeyError:
        known = ", ".join(sorted(plugins)) or "none installed"
        raise LookupError(f"unknown courier {name!r}; known couriers: {known}") from None


def validate_settings(name: str, settings: Mapping[str, Any]) -> BaseModel:
    """Raw settings checked by the courier's own model; ValueError when they do not fit.

    The error lists field names and reasons only: pydantic's default message echoes input values, which
    would put pass keys and tokens into logs.
    """
    plugin = get_plugin(name)
    try:
        return plugin.settings_model.model_validate(dict(settings))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(settings)'}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)
        )
        raise ValueError(f"invalid settings for courier {name!r}: {problems}") from None


def build_adapter(
    name: str, settings: Mapping[str, Any], transport: httpx.BaseTransport | None = None
) -> CourierAdapter:
    """Validate raw settings with the courier's own model and build its adapter."""
    return get_plugin(name).build(validate_settings(name, settings), transport)


def webhook_adapter(name: str, settings: Mapping[str, Any]) -> CourierAdapter:
    """An adapter to verify and parse webhooks with, built once per distinct settings and shared.

    Every webhook is verified against each enabled account of its courier, and validating settings and
    building an adapter cost more than the check itself. The settings are the key, so a rotated secret or an
    edited account is a new adapter at once, and so is a courier whose plugin was loaded again. Callers
    never close it; it opens no connection unless asked to call the courier, which webhooks do not.
    """
    return _built(get_plugin(name), json.dumps(settings, sort_keys=True))


@functools.lru_cache(maxsize=256)
def _built(plugin: CourierPlugin, settings_json: str) -> CourierAdapter:
    return build_adapter(plugin.name, json.loads(settings_json))
