"""Lalamove v3 signatures against the test vectors in couriers.md 3.2 and 3.6, and webhook envelope checks."""

from __future__ import annotations

import json

import pytest

from couriers.lalamove.signature import (
    authorization,
    js_stringify,
    raw_member,
    signature,
    verify_webhook,
)

SECRET = "sk_test_example_secret"
TIMESTAMP_MS = 1_700_000_000_000
API_KEY = "pk_test_gancang"

# couriers.md 3.2, verbatim.
VECTOR_GET_PATH = "/v3/orders/3379143481582114256"
VECTOR_GET_SIGNATURE = "43f43c2b941cf1bc8dafda10af625fd8706008e846a794612ee6c142b937e8c5"
VECTOR_POST_BODY = (
    '{"data":{"serviceType":"MOTORCYCLE","language":"en_ID","stops":[{"coordinates":{"lat":"-8.2192",'
    '"lng":"114.3691"},"address":"RSUD Blambangan"},{"coordinates":{"lat":"-8.2250","lng":"114.3600"},'
    '"address":"Rumah pasien"}]}}'
)
VECTOR_POST_SIGNATURE = "64cb327f3cc032364caaa405348367ef2461b2a6e4f5eedee0803d6ecb5cdd32"
# couriers.md 3.6, verbatim.
VECTOR_WEBHOOK_PATH = "/webhooks/lalamove"
VECTOR_WEBHOOK_DATA = (
    '{"order":{"orderId":"3379143481582114256","previousStatus":"ON_GOING","status":"PICKED_UP"},'
    '"updatedAt":"2025-12-06T00:10:00.00Z"}'
)
VECTOR_WEBHOOK_SIGNATURE = "1a093513352c98f6eac330e4635cf2d3a75fee0b846bc2f413307b012ef45ac5"

# Parsed and re-printed by Node v20.20.2's JSON.parse/JSON.stringify: doubles, integer-like keys first,
# exponent spelling, U+2028 left as is, lone surrogates escaped.
JS_INPUT = (
    '{"b":1.0,"10":"x","2":true,"01":null,"a":[1e21,1e-7,123456789012345680000,0.000001,-0.0,'
    '114.15004381376369,3379143481582114256,1.5e-7,100,2.5e+25],"s":"\\u00e9 \\u2028 \\u0007 \\" \\\\ \\n '
    '\\ud83d\\ude00 \\ud800","4294967295":1,"4294967294":2}'
)
JS_OUTPUT = (
    '{"2":true,"10":"x","4294967294":2,"b":1,"01":null,"a":[1e+21,1e-7,123456789012345680000,0.000001,0,'
    '114.15004381376369,3379143481582114300,1.5e-7,100,2.5e+25],"s":"\u00e9 \u2028 \\u0007 \\" \\\\ \\n '
    '\U0001f600 \\ud800","4294967295":1}'
)


def test_get_without_body_matches_vector():
    assert signature(SECRET, str(TIMESTAMP_MS), "GET", VECTOR_GET_PATH, "") == VECTOR_GET_SIGNATURE


def test_post_with_body_matches_vector():
    assert (
        signature(SECRET, str(TIMESTAMP_MS), "POST", "/v3/quotations", VECTOR_POST_BODY)
        == VECTOR_POST_SIGNATURE
    )


def test_signature_covers_every_part():
    changed = [
        signature("sk_test_other", str(TIMESTAMP_MS), "GET", VECTOR_GET_PATH, ""),
        signature(SECRET, str(TIMESTAMP_MS + 1), "GET", VECTOR_GET_PATH, ""),
        signature(SECRET, str(TIMESTAMP_MS), "DELETE", VECTOR_GET_PATH, ""),
        signature(SECRET, str(TIMESTAMP_MS), "GET", VECTOR_GET_PATH + "0", ""),
        signature(SECRET, str(TIMESTAMP_MS), "GET", VECTOR_GET_PATH, " "),
    ]
    assert VECTOR_GET_SIGNATURE not in changed


def test_authorization_header_carries_key_timestamp_and_signature():
    header = authorization(API_KEY, SECRET, TIMESTAMP_MS, "POST", "/v3/quotations", VECTOR_POST_BODY)

    assert header == f"hmac {API_KEY}:{TIMESTAMP_MS}:{VECTOR_POST_SIGNATURE}"


def test_webhook_signature_matches_vector():
    assert (
        signature(SECRET, str(TIMESTAMP_MS), "POST", VECTOR_WEBHOOK_PATH, VECTOR_WEBHOOK_DATA)
        == VECTOR_WEBHOOK_SIGNATURE
    )


def test_js_stringify_reprints_the_vector_data():
    assert js_stringify(json.loads(VECTOR_WEBHOOK_DATA)) == VECTOR_WEBHOOK_DATA


def test_js_stringify_matches_node():
    assert js_stringify(json.loads(JS_INPUT)) == JS_OUTPUT


def test_js_stringify_refuses_non_json_values():
    with pytest.raises(TypeError):
        js_stringify({"when": object()})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1, "data" : {"x": 1.0,  "y": [1, 2]} }', '{"x": 1.0,  "y": [1, 2]}'),
        ('{"data": 1, "data": "last"}', '"last"'),
        ('{"data":null}', "null"),
        ('{"other": {"data": 1}}', None),
        ("{}", None),
        ("[1]", None),
        ('{"data" 1}', None),
        ('{"data": 1 "x": 2}', None),
        ('{"data": [1,}', None),
        ("", None),
    ],
)
def test_raw_member(text, expected):
    assert raw_member(text, "data") == expected


def envelope(data: str = VECTOR_WEBHOOK_DATA, **overrides: object) -> bytes:
    """A webhook body as Lalamove sends it, signed over ``data`` as written (spacing kept)."""
    fields = {
        "apiKey": json.dumps(API_KEY),
        "timestamp": str(TIMESTAMP_MS),
        "signature": json.dumps(signature(SECRET, str(TIMESTAMP_MS), "POST", VECTOR_WEBHOOK_PATH, data)),
        "eventId": '"76F529D2-851A-4A52-A62F-2CC41D73780C"',
        "eventType": '"ORDER_STATUS_CHANGED"',
        "eventVersion": '"v3"',
    }
    fields.update({key: json.dumps(value) for key, value in overrides.items()})
    members = [f'"{key}": {value}' for key, value in fields.items()]
    return ("{" + ", ".join([*members, f'"data": {data}']) + "}").encode()


def verify(
    body: bytes, *, now_ms: int = TIMESTAMP_MS, signed_data: str = "stringify", path: str = ""
) -> bool:
    return verify_webhook(
        body,
        api_key=API_KEY,
        secret=SECRET,
        path=path or VECTOR_WEBHOOK_PATH,
        now_ms=now_ms,
        max_age_ms=60_000,
        max_skew_ms=5_000,
        signed_data=signed_data,  # type: ignore[arg-type]
    )


def test_verify_accepts_the_vector_envelope():
    body = envelope()

    assert json.loads(body)["signature"] == VECTOR_WEBHOOK_SIGNATURE
    assert verify(body) is True


def test_verify_accepts_timestamp_sent_as_digits_string():
    assert verify(envelope(timestamp=str(TIMESTAMP_MS))) is True


def test_verify_accepts_upper_case_hex():
    assert verify(envelope(signature=VECTOR_WEBHOOK_SIGNATURE.upper())) is True


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[]",
        envelope(apiKey="pk_test_someone_else"),
        envelope(apiKey=None),
        envelope(signature="0" * 64),
        envelope(signature=None),
        envelope(timestamp=None),
        envelope(timestamp=1.7e12),
        envelope(timestamp=True),
        envelope(timestamp="17e11"),
        envelope(timestamp=-1),
        envelope(
            data=VECTOR_WEBHOOK_DATA.replace("PICKED_UP", "COMPLETED"), signature=VECTOR_WEBHOOK_SIGNATURE
        ),
    ],
)
def test_verify_refuses(body):
    assert verify(body) is False


def test_verify_refuses_envelope_without_data():
    body = json.dumps({"apiKey": API_KEY, "timestamp": TIMESTAMP_MS, "signature": VECTOR_WEBHOOK_SIGNATURE})

    assert verify(body.encode()) is False


def test_verify_refuses_signature_for_another_path():
    assert verify(envelope(), path="/webhooks/couriers/lalamove") is False


@pytest.mark.parametrize(
    ("now_ms", "accepted"),
    [
        (TIMESTAMP_MS + 60_000, True),
        (TIMESTAMP_MS + 60_001, False),
        (TIMESTAMP_MS - 5_000, True),
        (TIMESTAMP_MS - 5_001, False),
    ],
)
def test_verify_timestamp_window(now_ms, accepted):
    assert verify(envelope(), now_ms=now_ms) is accepted


# ``1.0`` prints as ``1`` in JavaScript: only a signature over the raw bytes can match this data as written.
RAW_ONLY_DATA = '{"order":{"orderId":"1","status":"PICKED_UP"},"amount":1.0}'


@pytest.mark.parametrize(
    ("signed_data", "signed_over", "accepted"),
    [
        ("stringify", js_stringify(json.loads(RAW_ONLY_DATA)), True),
        ("stringify", RAW_ONLY_DATA, False),
        ("raw", RAW_ONLY_DATA, True),
        ("raw", js_stringify(json.loads(RAW_ONLY_DATA)), False),
        ("either", RAW_ONLY_DATA, True),
        ("either", js_stringify(json.loads(RAW_ONLY_DATA)), True),
    ],
)
def test_verify_signed_data_modes(signed_data, signed_over, accepted):
    body = envelope(
        data=RAW_ONLY_DATA,
        signature=signature(SECRET, str(TIMESTAMP_MS), "POST", VECTOR_WEBHOOK_PATH, signed_over),
    )

    assert verify(body, signed_data=signed_data) is accepted
