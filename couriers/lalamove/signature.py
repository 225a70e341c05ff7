"""Lalamove v3 HMAC signatures for our requests and for the webhooks Lalamove sends (couriers.md 3.2 and 3.6).

Pure functions: time and secrets come in as arguments so the documented test vectors can be checked exactly.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from decimal import Decimal
from typing import Any

from couriers.lalamove.settings import WebhookSignedData

_JSON_WHITESPACE = frozenset(" \t\n\r")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_ARRAY_INDEX_LIMIT = 2**32 - 1


def signature(secret: str, timestamp: str, method: str, path: str, body: str) -> str:
    """Lower-case hex HMAC-SHA256 of ``"{timestamp}\\r\\n{METHOD}\\r\\n{path}\\r\\n\\r\\n{body}"``.

    ``body`` must be exactly the text sent (or ``""`` without a body): Lalamove recomputes it over the bytes
    it receives, so signing a second serialisation of the same data fails whenever the two differ.
    """
    message = f"{timestamp}\r\n{method.upper()}\r\n{path}\r\n\r\n{body}"
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def authorization(api_key: str, secret: str, timestamp_ms: int, method: str, path: str, body: str) -> str:
    """The ``Authorization`` header value; the timestamp in it is the one that was signed."""
    timestamp = str(timestamp_ms)
    return f"hmac {api_key}:{timestamp}:{signature(secret, timestamp, method, path, body)}"


def verify_webhook(
    body: bytes,
    *,
    api_key: str,
    secret: str,
    path: str,
    now_ms: int,
    max_age_ms: int,
    max_skew_ms: int,
    signed_data: WebhookSignedData,
) -> bool:
    """Check a webhook envelope: our API key, a timestamp inside the window, and the signature over ``data``.

    Lalamove signs like a request to our webhook path: ``POST``, the envelope's ``timestamp``, and
    ``JSON.stringify(body.data)`` in its own receivers (see :func:`js_stringify`); ``signed_data`` picks that,
    the raw bytes of ``data``, or either. Anything unreadable is refused, never an exception.
    """
    try:
        text = body.decode("utf-8")
        envelope = json.loads(text)
    except ValueError:
        return False
    if not isinstance(envelope, dict) or "data" not in envelope:
        return False
    presented_key = envelope.get("apiKey")
    presented_signature = envelope.get("signature")
    timestamp = _timestamp_text(envelope.get("timestamp"))
    if not isinstance(presented_key, str) or not isinstance(presented_signature, str) or timestamp is None:
        return False
    if not now_ms - max_age_ms <= int(timestamp) <= now_ms + max_skew_ms:
        return False
    candidates = []
    if signed_data in ("stringify", "either"):
        candidates.append(js_stringify(envelope["data"]))
    if signed_data in ("raw", "either"):
        raw = raw_member(text, "data")
        if raw is not None:
            candidates.append(raw)
    presented = presented_signature.strip().lower().encode()
    # Every comparison runs, so the time taken does not reveal which one failed.
    key_ok = hmac.compare_digest(presented_key.encode(), api_key.encode())
    matches = [
        hmac.compare_digest(signature(secret, timestamp, "POST", path, candidate).encode(), presented)
        for candidate in candidates
    ]
    return key_ok and any(matches)


def _timestamp_text(value: Any) -> str | None:
    """The timestamp as JavaScript's template string would print it: an integer, sent as number or digits."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value >= 0:
        return str(value)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return value
    return None


def js_stringify(value: Any) -> str:
    """Serialise parsed JSON the way JavaScript's ``JSON.stringify`` does, which is what Lalamove signs.

    ``json.dumps`` differs in ways real payloads hit: JavaScript numbers are doubles (``1.0`` prints ``1``,
    19-digit integers lose precision, exponents read ``1e-7``), integer-like keys come first in ascending
    order, and lone surrogates are escaped.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _js_number(value)
    if isinstance(value, str):
        return _LONE_SURROGATE.sub(
            lambda match: f"\\u{ord(match.group()):04x}", json.dumps(value, ensure_ascii=False)
        )
    if isinstance(value, list):
        return "[" + ",".join(js_stringify(item) for item in value) + "]"
    if isinstance(value, dict):
        indices = sorted((key for key in value if _is_array_index(key)), key=int)
        keys = indices + [key for key in value if not _is_array_index(key)]
        return "{" + ",".join(f"{js_stringify(key)}:{js_stringify(value[key])}" for key in keys) + "}"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def _is_array_index(key: str) -> bool:
    return key.isascii() and key.isdigit() and (key == "0" or key[0] != "0") and int(key) < _ARRAY_INDEX_LIMIT


def _js_number(value: int | float) -> str:
    """ECMAScript Number::toString over the shortest round-tripping digits (which Python's repr gives)."""
    try:
        number = float(value)
    except OverflowError:
        return "null"
    if not math.isfinite(number):
        return "null"
    if number == 0:
        return "0"
    sign = "-" if number < 0 else ""
    decimal = Decimal(repr(abs(number))).normalize().as_tuple()
    digits = "".join(map(str, decimal.digits))
    k = len(digits)
    n = k + int(decimal.exponent)
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = f"{digits[:n]}.{digits[n:]}"
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        exponent = f"e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"
        text = (digits if k == 1 else f"{digits[0]}.{digits[1:]}") + exponent
    return sign + text


def raw_member(text: str, name: str) -> str | None:
    """The exact source text of member ``name`` of the top-level JSON object in ``text`` (the last one wins,
    as in parsing), or None when there is no such member or the text is not an object."""
    decoder = json.JSONDecoder()
    index = _skip(text, 0)
    if text[index : index + 1] != "{":
        return None
    index = _skip(text, index + 1)
    if text[index : index + 1] == "}":
        return None
    found = None
    try:
        while text[index : index + 1] == '"':
            key, index = decoder.raw_decode(text, index)
            index = _skip(text, index)
            if text[index : index + 1] != ":":
                return None
            start = _skip(text, index + 1)
            _, end = decoder.raw_decode(text, start)
            if key == name:
                found = text[start:end]
            index = _skip(text, end)
            if text[index : index + 1] == "}":
                return found
            if text[index : index + 1] != ",":
                return None
            index = _skip(text, index + 1)
    except ValueError:
        return None
    return None


def _skip(text: str, index: int) -> int:
    while text[index : index + 1] in _JSON_WHITESPACE:
        index += 1
    return index
