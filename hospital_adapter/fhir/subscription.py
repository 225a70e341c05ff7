"""FHIR R4 Subscription rest-hook notifications → canonical prescriptions.

A hospital FHIR server with a ``rest-hook`` Subscription on ``MedicationRequest?…`` POSTs to our endpoint
when a matching resource is created or updated. What arrives depends on ``channel.payload``:

- absent: an empty body, a *ping*; nothing to parse, the receiver must re-query (pull) the server;
- ``application/fhir+json``: the matching resource itself (a MedicationRequest, whose Patient must then
  be contained) or, on servers that batch, a Bundle of it and its Patient;
- R4B / the R4 "backport" topic-based subscriptions: a notification Bundle (R4B type
  ``subscription-notification``, the backport uses ``history``) whose first entry is a SubscriptionStatus
  (R4B) or Parameters (backport) describing the subscription, followed by the resources. The status
  entry tells us nothing a courier needs and is ignored; a notification without any MedicationRequest
  (handshake, heartbeat, id-only content) is treated as a ping.

``history``, ``searchset`` and ``subscription-notification`` Bundles are not accepted by
:func:`parse_bundle`, which is meant for what a hospital *sends*. Their entries differ from a collection's
only in ``request``/``response``/``search`` bookkeeping the parser does not read, so they are re-wrapped as
a ``collection`` with the same resources and ``fullUrl``s (references keep resolving) and parsed by the
one parser. A history Bundle can carry several versions of one resource, newest first: only the newest is
kept, and a resource whose newest entry is a deletion is dropped.

Our bearer token comes back in the Subscription's ``channel.header`` (``Authorization: Bearer …``); the
HTTP layer checks it with :func:`check_channel_token` before calling :func:`parse_notification`.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from hospital_adapter.canonical import PrescriptionIn, SourceInputError
from hospital_adapter.fhir.parser import parse_bundle, parse_medication_request

NotificationKind = Literal["ping", "resource", "bundle"]

JSON_MEDIA_TYPES = frozenset({"application/fhir+json", "application/json", "application/json+fhir"})
DIRECT_BUNDLE_TYPES = frozenset({"collection", "transaction", "batch"})
REWRAPPED_BUNDLE_TYPES = frozenset({"history", "searchset", "subscription-notification"})
# The subscription's own status: SubscriptionStatus in R4B, Parameters in the R4 backport IG.
STATUS_RESOURCE_TYPES = frozenset({"SubscriptionStatus", "Parameters"})

_BEARER = re.compile(r"^\s*bearer\s+(\S+)\s*$", re.IGNORECASE)
_TYPE_ID_TAIL = re.compile(r"([A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64})(?:/_history/[^/]*)?$")


class Notification(BaseModel):
    """What one rest-hook POST told us.

    ``kind`` is ``ping`` when there is nothing to ingest and the caller must pull (empty body, or a
    notification Bundle without MedicationRequests); ``resource`` for a single MedicationRequest; ``bundle``
    for a Bundle. ``subscription`` is the Subscription reference a notification Bundle named, if any.
    """

    kind: NotificationKind
    prescriptions: list[PrescriptionIn] = Field(default_factory=list)
    subscription: str | None = None


def parse_notification(raw: bytes, content_type: str) -> Notification:
    """Parse a rest-hook POST body; raises SourceInputError (with an HTTP status) for what cannot be used."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    # Whitespace announced as JSON is a JSON body that does not parse, not an empty ping.
    if not raw or (not raw.strip() and media_type not in JSON_MEDIA_TYPES):
        return Notification(kind="ping")
    if media_type not in JSON_MEDIA_TYPES:
        raise SourceInputError(
            [
                (
                    "not-supported",
                    f"Content-Type {content_type!r} is not accepted; set the Subscription's channel.payload "
                    "to application/fhir+json, or leave it out for an empty ping",
                    None,
                )
            ],
            http_status=415,
        )
    document = _decode(raw)
    resource_type = document.get("resourceType")
    if resource_type == "MedicationRequest":
        return Notification(kind="resource", prescriptions=parse_medication_request(raw))
    if resource_type != "Bundle":
        raise SourceInputError(
            [
                (
                    "not-supported",
                    f"A notification must be a MedicationRequest or a Bundle; got resourceType {resource_type!r}",
                    "resourceType",
                )
            ],
            http_status=400,
        )
    bundle_type = document.get("type")
    if not isinstance(bundle_type, str):  # a list or an object is no Bundle.type, and is unhashable
        bundle_type = repr(bundle_type)
    if bundle_type in DIRECT_BUNDLE_TYPES:
        return Notification(kind="bundle", prescriptions=parse_bundle(raw))
    if bundle_type not in REWRAPPED_BUNDLE_TYPES:
        accepted = ", ".join(sorted(DIRECT_BUNDLE_TYPES | REWRAPPED_BUNDLE_TYPES))
        raise SourceInputError(
            [
                (
                    "not-supported",
                    f"Bundle.type {bundle_type!r} is not accepted; send one of {accepted}",
                    "Bundle.type",
                )
            ]
        )
    entries = _entries(document)
    subscription = _subscription_reference(entries)
    if bundle_type == "history":
        entries = _newest_versions(entries)
    if not any(_resource_type(entry) == "MedicationRequest" for entry in entries):
        if subscription is not None or bundle_type == "subscription-notification":
            # Handshake, heartbeat or id-only notification: nothing to ingest, so re-query.
            return Notification(kind="ping", subscription=subscription)
        raise SourceInputError([("required", "Bundle has no MedicationRequest", "Bundle.entry")])
    collection = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            _as_collection_entry(entry) for entry in entries if isinstance(entry.get("resource"), dict)
        ],
    }
    return Notification(
        kind="bundle",
        prescriptions=parse_bundle(json.dumps(collection).encode()),
        subscription=subscription,
    )


def check_channel_token(headers: Mapping[str, str], expected_token: str) -> bool:
    """True when exactly one ``Authorization: Bearer <token>`` header carries ``expected_token``.

    Header names are matched case-insensitively (works for dicts, httpx and Starlette headers). The compare
    is constant-time; an empty expected token never matches, so an unconfigured secret fails closed.
    """
    if not expected_token:
        return False
    values = [value for name, value in headers.items() if name.lower() == "authorization"]
    if len(values) != 1:
        return False
    match = _BEARER.match(values[0])
    presented = match[1] if match else ""
    return hmac.compare_digest(presented.encode(), expected_token.encode())


def _decode(raw: bytes) -> dict[str, Any]:
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise SourceInputError(
            [("invalid", f"Notification body is not valid JSON ({exc})", None)], http_status=400
        ) from exc
    if not isinstance(document, dict):
        raise SourceInputError(
            [
                (
                    "invalid",
                    f"Notification body is a JSON {type(document).__name__}, not a FHIR resource",
                    None,
                )
            ],
            http_status=400,
        )
    return document


def _entries(document: dict[str, Any]) -> list[dict[str, Any]]:
    entries = document.get("entry", [])
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise SourceInputError([("structure", "Bundle.entry must be a list of objects", "Bundle.entry")])
    return entries


def _resource_type(entry: dict[str, Any]) -> str | None:
    resource = entry.get("resource")
    kind = resource.get("resourceType") if isinstance(resource, dict) else None
    return kind if isinstance(kind, str) else None


def _subscription_reference(entries: list[dict[str, Any]]) -> str | None:
    """The Subscription a notification's status entry (SubscriptionStatus or backport Parameters) names."""
    if not entries or _resource_type(entries[0]) not in STATUS_RESOURCE_TYPES:
        return None
    status = entries[0]["resource"]
    if status["resourceType"] == "SubscriptionStatus":
        reference = (status.get("subscription") or {}).get("reference")
        return reference if isinstance(reference, str) else None
    for parameter in status.get("parameter") or []:
        if isinstance(parameter, dict) and parameter.get("name") == "subscription":
            reference = (parameter.get("valueReference") or {}).get("reference")
            return reference if isinstance(reference, str) else None
    return None


def _newest_versions(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep the first (newest, R4 history order) entry per resource; drop resources whose newest is a DELETE."""
    seen: set[str] = set()
    kept: list[dict[str, Any]] = []
    for entry in entries:
        key = _entry_key(entry)
        if key is None:
            kept.append(entry)
            continue
        if key in seen:
            continue
        seen.add(key)
        if isinstance(entry.get("resource"), dict):
            kept.append(entry)
    return kept


def _entry_key(entry: dict[str, Any]) -> str | None:
    resource = entry.get("resource")
    if isinstance(resource, dict) and isinstance(resource.get("id"), str):
        return f"{resource.get('resourceType')}/{resource['id']}"
    request = entry.get("request")
    for candidate in (request.get("url") if isinstance(request, dict) else None, entry.get("fullUrl")):
        if isinstance(candidate, str) and (match := _TYPE_ID_TAIL.search(candidate.split("?", 1)[0])):
            return match[1]
    return None


def _as_collection_entry(entry: dict[str, Any]) -> dict[str, Any]:
    # request/response/search are transaction, history and search bookkeeping; a collection has none.
    return {key: value for key, value in entry.items() if key in ("fullUrl", "resource")}
