"""Zenziva (Indonesian HTTP SMS): the form its integrations post, its JSON answer, its refusals."""

from __future__ import annotations

from urllib.parse import parse_qsl

import httpx
import pytest
import respx
from notify_support import TO, ZENZIVA, ZENZIVA_ACCEPTED, ZENZIVA_REFUSED, ZENZIVA_URL

from dispatch.notify.gateways import CallbackGateway, GatewayUnavailable, SendOutcomeUnknown, SendResult
from dispatch.notify.gateways.zenziva import ZenzivaGateway

TEXT = "RSUD Blambangan: Obat dalam perjalanan: https://x.id/t/abc"


def test_send_posts_keys_number_and_text_as_a_form() -> None:
    with respx.mock(assert_all_called=True) as api:
        route = api.post(ZENZIVA_URL).mock(return_value=httpx.Response(200, json=ZENZIVA_ACCEPTED))
        result = ZenzivaGateway(**ZENZIVA).send(TO, TEXT)
    assert dict(parse_qsl(route.calls.last.request.content.decode())) == {
        "userkey": "d27a72ddaf0b",
        "passkey": "zenziva-passkey-0123",
        "to": "081234560101",
        "message": TEXT,
    }
    assert result == SendResult("3719823", "queued")
    assert not isinstance(ZenzivaGateway(**ZENZIVA), CallbackGateway)


def test_the_international_number_format_is_a_setting() -> None:
    with respx.mock() as api:
        route = api.post(ZENZIVA_URL).mock(return_value=httpx.Response(200, json=ZENZIVA_ACCEPTED))
        ZenzivaGateway(**ZENZIVA, number_format="international").send(TO, TEXT)
    assert dict(parse_qsl(route.calls.last.request.content.decode()))["to"] == "6281234560101"


def test_a_refusal_is_recorded_in_zenzivas_words() -> None:
    with respx.mock() as api:
        api.post(ZENZIVA_URL).mock(return_value=httpx.Response(200, json=ZENZIVA_REFUSED))
        result = ZenzivaGateway(**ZENZIVA).send(TO, TEXT)
    assert result == SendResult("", "failed", "Zenziva: Saldo anda tidak mencukupi")


def test_5xx_retries_and_a_lost_answer_does_not() -> None:
    gateway = ZenzivaGateway(**ZENZIVA)
    with respx.mock() as api:
        api.post(ZENZIVA_URL).mock(side_effect=[httpx.Response(500), httpx.RemoteProtocolError("closed")])
        with pytest.raises(GatewayUnavailable, match="HTTP 500"):
            gateway.send(TO, TEXT)
        with pytest.raises(SendOutcomeUnknown, match="RemoteProtocolError"):
            gateway.send(TO, TEXT)
