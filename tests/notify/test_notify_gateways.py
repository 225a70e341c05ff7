import dataclasses
import re
from dataclasses import dataclass
from typing import ClassVar

import pytest

from dispatch.notify import gateways
from dispatch.notify.gateways import (
    ENTRY_POINT_GROUP,
    ConsoleGateway,
    GatewayLoadError,
    SendResult,
    SmsGateway,
    load_gateway,
)

TEXT = "RSUD Blambangan: Obat Anda sudah diantar. Mohon konfirmasi penerimaan di https://x.id/t/abc"


def test_console_gateway_prints_one_line_with_the_phone_masked() -> None:
    lines: list[str] = []
    gateway = ConsoleGateway(print_fn=lines.append)
    result = gateway.send("+628123456789", TEXT)
    assert lines == [f"[SMS → +62 812-****-789] {TEXT}"]
    assert "8123456789" not in lines[0]
    assert result.status == "sent"
    assert result.detail == ""


def test_console_gateway_defaults_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    ConsoleGateway().send("+628123456789", TEXT)
    assert capsys.readouterr().out == f"[SMS → +62 812-****-789] {TEXT}\n"


def test_console_gateway_gives_unique_uuid_provider_ids_and_records_messages() -> None:
    gateway = ConsoleGateway(print_fn=lambda _line: None)
    first = gateway.send("+628123456789", "one")
    second = gateway.send("+6281234567890", "two")
    uuid_shape = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
    assert uuid_shape.fullmatch(first.provider_message_id)
    assert first.provider_message_id != second.provider_message_id
    assert [(sms.provider_message_id, sms.to_e164, sms.text) for sms in gateway.outbox] == [
        (first.provider_message_id, "+628123456789", "one"),
        (second.provider_message_id, "+6281234567890", "two"),
    ]


def test_console_outbox_is_bounded() -> None:
    gateway = ConsoleGateway(print_fn=lambda _line: None)
    for number in range(1005):
        gateway.send("+628123456789", str(number))
    assert len(gateway.outbox) == 1000
    assert gateway.outbox[0].text == "5"


def test_console_gateway_satisfies_the_protocol() -> None:
    assert ConsoleGateway.name == "console"
    assert isinstance(ConsoleGateway(), SmsGateway)


def test_send_result_is_frozen() -> None:
    result = SendResult(provider_message_id="abc", status="queued")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.status = "sent"  # type: ignore[misc]


def test_load_console_gateway_from_the_installed_entry_point() -> None:
    gateway = load_gateway("console")
    assert isinstance(gateway, ConsoleGateway)


def test_load_gateway_passes_options_to_the_constructor() -> None:
    lines: list[str] = []
    gateway = load_gateway("console", {"print_fn": lines.append})
    gateway.send("+628123456789", "hi")
    assert lines == ["[SMS → +62 812-****-789] hi"]


def test_unknown_gateway_names_the_installed_ones() -> None:
    with pytest.raises(
        LookupError, match=r"unknown SMS gateway 'kirim-sms' \(installed: console, twilio, whatsapp, zenziva"
    ):
        load_gateway("kirim-sms")


class RecordingGateway:
    name: ClassVar[str] = "recording"

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key

    def send(self, to_e164: str, text: str) -> SendResult:
        return SendResult(provider_message_id=f"{to_e164}:{len(text)}", status="queued")


class NotAGateway:
    name: ClassVar[str] = "broken"


@dataclass(frozen=True)
class FakeEntryPoint:
    name: str
    target: object
    value: str = "somewhere:Thing"
    group: str = ENTRY_POINT_GROUP

    def load(self) -> object:
        if isinstance(self.target, Exception):
            raise self.target
        return self.target


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> list[FakeEntryPoint]:
    registry: list[FakeEntryPoint] = []

    def entry_points(*, group: str, name: str | None = None) -> list[FakeEntryPoint]:
        return [ep for ep in registry if ep.group == group and (name is None or ep.name == name)]

    monkeypatch.setattr(gateways, "entry_points", entry_points)
    return registry


def test_a_plugin_gateway_is_built_with_its_options(installed: list[FakeEntryPoint]) -> None:
    installed.append(FakeEntryPoint("recording", RecordingGateway))
    gateway = load_gateway("recording", {"api_key": "k"})
    assert isinstance(gateway, RecordingGateway)
    assert gateway.api_key == "k"
    assert gateway.send("+628123456789", "abc") == SendResult("+628123456789:3", "queued")


def test_rejected_options_are_a_load_error_without_the_values(installed: list[FakeEntryPoint]) -> None:
    installed.append(FakeEntryPoint("recording", RecordingGateway))
    with pytest.raises(GatewayLoadError, match="rejected its options") as error:
        load_gateway("recording", {"api_key": "k", "password": "hunter2"})
    assert "hunter2" not in str(error.value)


def test_no_gateways_installed(installed: list[FakeEntryPoint]) -> None:
    with pytest.raises(LookupError, match=r"installed: none"):
        load_gateway("console")


def test_a_gateway_registered_twice_is_ambiguous(installed: list[FakeEntryPoint]) -> None:
    installed.extend(
        [FakeEntryPoint("recording", RecordingGateway), FakeEntryPoint("recording", RecordingGateway)]
    )
    with pytest.raises(GatewayLoadError, match="more than one"):
        load_gateway("recording", {"api_key": "k"})


def test_an_entry_point_that_fails_to_import(installed: list[FakeEntryPoint]) -> None:
    installed.append(FakeEntryPoint("recording", ModuleNotFoundError("No module named 'smsprovider'")))
    with pytest.raises(GatewayLoadError, match="failed to load.*smsprovider"):
        load_gateway("recording")


def test_an_entry_point_that_does_not_build_a_gateway(installed: list[FakeEntryPoint]) -> None:
    installed.append(FakeEntryPoint("broken", NotAGateway))
    with pytest.raises(GatewayLoadError, match="built a NotAGateway, not an SmsGateway"):
        load_gateway("broken")


def test_entry_point_and_gateway_names_must_match(installed: list[FakeEntryPoint]) -> None:
    installed.append(FakeEntryPoint("sms", ConsoleGateway))
    with pytest.raises(GatewayLoadError, match="named 'console'"):
        load_gateway("sms")
