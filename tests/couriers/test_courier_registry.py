"""Courier plugin discovery through entry points, settings validation, and loud failure on broken plugins."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import httpx
import pytest
from pydantic import BaseModel, SecretStr, ValidationError

from couriers import registry
from couriers.base import Capabilities, CourierStatus
from couriers.gosend import PLUGIN, GoSendAdapter, GoSendSettings

VALID_SETTINGS = {"client_id": "gancang-test", "pass_key": "pass-key-secret"}


@pytest.fixture(autouse=True)
def _fresh_discovery():
    """Discovery is cached per process; these tests swap the entry points, so each starts and ends clean."""
    registry._discover.cache_clear()
    yield
    registry._discover.cache_clear()


def test_gosend_is_discovered_through_its_entry_point():
    assert registry.get_plugin("gosend") is PLUGIN
    assert PLUGIN in registry.all_plugins()
    assert PLUGIN.label == "GoSend"
    assert PLUGIN.settings_model is GoSendSettings
    adapter = registry.build_adapter("gosend", VALID_SETTINGS)
    assert adapter.capabilities == Capabilities(instant=True, same_day=True, max_distance_km=40)


def test_unknown_courier_lists_known_names():
    with pytest.raises(LookupError, match=r"unknown courier 'ojek'; known couriers: .*gosend"):
        registry.get_plugin("ojek")


def test_build_adapter_validates_settings_and_injects_transport():
    transport = httpx.MockTransport(
        lambda request: httpx.Response(200, json={"orderNo": "GK-11-1", "status": "Completed"})
    )

    adapter = registry.build_adapter("gosend", VALID_SETTINGS, transport=transport)

    assert isinstance(adapter, GoSendAdapter)
    assert adapter.status("GK-11-1").status is CourierStatus.DELIVERED


def test_build_adapter_invalid_settings_names_courier_and_fields_but_not_secrets():
    settings = {"client_id": "", "pass_key": "pass-key-secret", "passkey": "typo-secret"}

    with pytest.raises(ValueError, match="invalid settings for courier 'gosend'") as caught:
        registry.build_adapter("gosend", settings)

    message = str(caught.value)
    assert "client_id" in message
    assert "passkey" in message
    assert "secret" not in message
    assert caught.value.__cause__ is None


def test_build_adapter_unknown_courier():
    with pytest.raises(LookupError, match="unknown courier"):
        registry.build_adapter("ojek", VALID_SETTINGS)


@pytest.mark.parametrize(
    ("entry_point", "message"),
    [
        (
            EntryPoint("broken", "couriers.does_not_exist:PLUGIN", registry.ENTRY_POINT_GROUP),
            "failed to load",
        ),
        (EntryPoint("caps", "couriers.base:Capabilities", registry.ENTRY_POINT_GROUP), "not a CourierPlugin"),
        (EntryPoint("gojek", "couriers.gosend:PLUGIN", registry.ENTRY_POINT_GROUP), "plugin named 'gosend'"),
    ],
)
def test_broken_entry_points_fail_loudly(monkeypatch, entry_point, message):
    monkeypatch.setattr(registry, "entry_points", lambda group: [entry_point])

    with pytest.raises(registry.PluginLoadError, match=message):
        registry.all_plugins()


def test_duplicate_courier_names_fail_loudly(monkeypatch):
    entry_point = EntryPoint("gosend", "couriers.gosend:PLUGIN", registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [entry_point, entry_point])

    with pytest.raises(registry.PluginLoadError, match="two installed packages"):
        registry.get_plugin("gosend")


def test_gosend_build_refuses_foreign_settings():
    class OtherSettings(BaseModel):
        client_id: str = "someone-else"

    with pytest.raises(TypeError, match="GoSendSettings"):
        PLUGIN.build(OtherSettings(), None)


@pytest.mark.parametrize(
    "overrides",
    [
        {"client_id": "  "},
        {"pass_key": ""},
        {"pass_key": "   "},
        {"webhook_token": ""},
        {"base_url": "kilat-api.gojekapi.com"},
        {"timeout_seconds": 0},
        {"shipment_method": ""},
        {"pass-key": "x"},
    ],
)
def test_gosend_settings_refuse_empty_or_unknown_values(overrides):
    with pytest.raises(ValidationError):
        GoSendSettings.model_validate(VALID_SETTINGS | overrides)


def test_gosend_settings_defaults_and_secret_masking():
    settings = GoSendSettings(client_id="gancang-test", pass_key=SecretStr("pass-key-secret"))

    assert settings.base_url == "https://integration-kilat-api.gojekapi.com"
    assert settings.webhook_header == "Authorization"
    assert settings.webhook_token is None
    assert settings.shipment_method == "Instant"
    assert settings.timeout_seconds == 10.0
    assert "pass-key-secret" not in repr(settings)
