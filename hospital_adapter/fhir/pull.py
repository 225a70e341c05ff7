"""Pull mode: poll a hospital FHIR R4 server for MedicationRequests changed since a watermark.

One :meth:`FhirPuller.pull` is::

    GET {base}/MedicationRequest?_lastUpdated=ge{since}&_include=MedicationRequest:subject
        &_include=MedicationRequest:medication&_count=N&{search_params}

following ``link[relation=next]`` to the last page. A subject Patient the server did not ``_include`` is
fetched with ``GET {base}/Patient/{id}`` (once per pull). The MedicationRequests are then grouped into
paper prescriptions (the SATUSEHAT ``prescription/`` identifier, else ``groupIdentifier``, else the first
identifier, as the parser does) and each group, with its Patient and Medications, is wrapped in a
``collection`` Bundle and given to :func:`parse_bundle`. Grouping *before* parsing is what keeps a bad
resource from failing the pull: a group the parser rejects becomes one error entry per MedicationRequest
in it, and the other groups are still returned.

Authentication is SATUSEHAT's OAuth2 client credentials (``POST {oauth}/accesstoken?grant_type=
client_credentials``), the token cached until ``expires_in`` minus a margin and fetched again once when the
server answers 401; or a static bearer token; or none.

Failures of the server itself raise :class:`PullError`: ``retryable`` for timeouts, transport errors, 408,
429 and 5xx (which SATUSEHAT may send as ``text/plain``), not for other 4xx (usually an OperationOutcome,
whose diagnostics become ``messages``). Nothing is returned from a failed pull, so the caller keeps its old
watermark and asks again.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from hospital_adapter.canonical import PrescriptionIn, SourceInputError
from hospital_adapter.fhir.parser import parse_bundle
from hospital_adapter.oauth import ClientCredentialsToken

MAX_ERROR_TEXT = 300
RETRYABLE_STATUSES = frozenset({408, 429})
PRESCRIPTION_SYSTEM_PREFIX = "sys-ids.kemkes.go.id/prescription/"

_SCHEME = re.compile(r"^https?://")
_TYPE_ID_TAIL = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]*)?$")

ResourceError = tuple[str, str]


class FhirPullSettings(BaseModel):
    """One hospital FHIR server to poll. With ``oauth_url`` set, ``client_id``/``client_secret`` are required."""

    base_url: str = Field(min_length=1, description="FHIR base, e.g. https://fhir.rsud.example/fhir-r4/v1")
    oauth_url: str | None = Field(default=None, description="SATUSEHAT-style OAuth base, e.g. …/oauth2/v1")
    client_id: str | None = None
    client_secret: SecretStr | None = None
    bearer_token: SecretStr | None = Field(default=None, description="Static token when there is no OAuth")
    page_size: int = Field(default=100, ge=1, le=1000)
    timeout: float = Field(default=30.0, gt=0)
    max_pages: int = Field(default=1000, ge=1, description="Stop a server whose next links never end")
    # Withdrawn prescriptions come too: a cancellation must reach a courier already on the way.
    search_params: dict[str, str] = Field(
        default_factory=lambda: {
            "status": "active,on-hold,cancelled,stopped,entered-in-error",
            "intent": "order",
        }
    )

    @field_validator("base_url", "oauth_url")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value is not None else None

    @model_validator(mode="after")
    def _oauth_needs_credentials(self) -> FhirPullSettings:
        if self.oauth_url is not None and not (
            self.client_id and self.client_secret and self.client_secret.get_secret_value()
        ):
            raise ValueError("oauth_url needs client_id and client_secret")
        return self


class PullError(Exception):
    """The FHIR or OAuth server refused or failed; ``retryable`` says whether asking again later can help."""

    def __init__(self, messages: list[str], status: int | None, *, retryable: bool) -> None:
        super().__init__("; ".join(messages) or "FHIR pull failed")
        self.messages = messages
        self.status = status
        self.retryable = retryable


@dataclass
class PullResult:
    """Prescriptions parsed, per-resource errors as ("MedicationRequest/id", message), and the next ``since``.

    ``watermark`` is the newest ``meta.lastUpdated`` of any MedicationRequest seen (including rejected
    ones, which are reported in ``errors`` rather than polled forever), else the ``since`` passed in; it is
    None only when a first pull (``since=None``) found nothing.
    """

    prescriptions: list[PrescriptionIn] = field(default_factory=list)
    errors: list[ResourceError] = field(default_factory=list)
    watermark: datetime | None = None


@dataclass
class _Match:
    """One MedicationRequest from the search, with the fullUrl the server gave it."""

    label: str
    entry: dict[str, Any]
    updated: datetime | None


class FhirPuller:
    """Polls one FHIR server. Keep one instance per hospital: the OAuth token is cached on it across pulls."""

    def __init__(
        self,
        settings: FhirPullSettings,
        transport: httpx.BaseTransport | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._transport = transport
        self._oauth = (
            ClientCredentialsToken(
                settings.oauth_url,
                settings.client_id or "",
                settings.client_secret.get_secret_value() if settings.client_secret else "",
                clock=clock,
            )
            if settings.oauth_url is not None
            else None
        )

    def pull(self, since: datetime | None) -> PullResult:
        """Fetch every MedicationRequest updated after ``since`` (aware datetime) and parse it."""
        if since is not None and since.tzinfo is None:
            raise ValueError("since must be timezone-aware")
        with httpx.Client(transport=self._transport, timeout=self.settings.timeout) as client:
            return _Pull(self, client).run(since)

    # -- HTTP with authentication --------------------------------------------------------------------

    def _get(self, client: httpx.Client, url: str, params: dict[str, Any] | None = None) -> httpx.Response:
        response = self._send(client, url, params)
        if response.status_code == 401 and self._oauth is not None:
            self._oauth.forget()  # revoked or expired early: one fresh token, one more try
            response = self._send(client, url, params)
        return response

    def _send(self, client: httpx.Client, url: str, params: dict[str, Any] | None) -> httpx.Response:
        headers = {"Accept": "application/fhir+json"}
        token = self._access_token(client)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return _request(client, "GET", url, params=params, headers=headers)

    def _access_token(self, client: httpx.Client) -> str | None:
        if self._oauth is None:
            token = self.settings.bearer_token
            return token.get_secret_value() if token is not None else None
        cached = self._oauth.cached()
        if cached is not None:
            return cached
        response = _request(client, **self._oauth.request())
        _raise_for_status(response, "OAuth token request")
        try:
            return self._oauth.accept(_json(response, "OAuth token response"))
        except ValueError as exc:
            raise PullError([str(exc)], response.status_code, retryable=False) from exc


class _Pull:
    """State of one pull: pages seen, Patients fetched."""

    def __init__(self, puller: FhirPuller, client: httpx.Client) -> None:
        self.puller = puller
        self.client = client
        self.base = puller.settings.base_url
        self.matches: dict[str, _Match] = {}
        self.included: dict[str, dict[str, Any]] = {}  # "Type/id" → entry
        self.patients: dict[str, dict[str, Any] | None] = {}  # fetched per pull; None = not found
        self.errors: list[ResourceError] = []

    def run(self, since: datetime | None) -> PullResult:
        for bundle in self._pages(since):
            self._collect(bundle)
        watermark = max((match.updated for match in self.matches.values() if match.updated), default=None)
        if since is not None and (watermark is None or watermark < since):
            watermark = since
        prescriptions: list[PrescriptionIn] = []
        for members in _groups(self.matches.values()):
            prescriptions.extend(self._parse_group(members))
        return PullResult(prescriptions=prescriptions, errors=self.errors, watermark=watermark)

    def _pages(self, since: datetime | None) -> Iterable[dict[str, Any]]:
        settings = self.puller.settings
        query: dict[str, Any] = {
            **settings.search_params,
            "_include": ["MedicationRequest:subject", "MedicationRequest:medication"],
            "_count": str(settings.page_size),
        }
        if since is not None:
            # ge, not gt: a write in the same instant as the last one seen is not lost; a repeat is harmless
            # because intake is idempotent on the prescription and its content.
            query["_lastUpdated"] = f"ge{_instant(since)}"
        params: dict[str, Any] | None = query
        url: str | None = f"{self.base}/MedicationRequest"
        seen: set[str] = set()
        page = 0
        while url is not None:
            page += 1
            if page > settings.max_pages:
                raise PullError([f"Search has more than {settings.max_pages} pages"], None, retryable=False)
            response = self.puller._get(self.client, url, params)
            _raise_for_status(response, "MedicationRequest search")
            bundle = _json(response, "MedicationRequest search")
            if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "searchset":
                raise PullError(
                    [
                        f"Search answered with {bundle.get('resourceType')!r} {bundle.get('type')!r}, not a searchset"
                    ],
                    response.status_code,
                    retryable=False,
                )
            yield bundle
            seen.add(str(response.request.url))
            url = self._next_link(bundle)
            params = None  # the next link carries the whole query; {} would wipe it
            if url is not None and url in seen:
                raise PullError([f"Search next link loops back to {url}"], None, retryable=False)

    def _next_link(self, bundle: dict[str, Any]) -> str | None:
        for link in bundle.get("link") or []:
            if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
                url: str = link["url"]
                if not url.startswith(("http://", "https://")):
                    url = f"{self.base}/{url.lstrip('/')}"
                # Our token goes wherever the link points: only ever to the server we were configured for.
                if _origin(url) != _origin(self.base):
                    raise PullError([f"Search next link {url} leaves {self.base}"], None, retryable=False)
                return url
        return None

    def _collect(self, bundle: dict[str, Any]) -> None:
        for position, entry in enumerate(bundle.get("entry") or []):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict):
                continue
            kind = resource.get("resourceType")
            mode = (entry.get("search") or {}).get("mode")
            rid = resource.get("id")
            key = f"{kind}/{rid}" if isinstance(rid, str) else None
            if kind == "MedicationRequest" and mode in (None, "match"):
                label = key or entry.get("fullUrl") or f"MedicationRequest (entry {position})"
                match = _Match(label, entry, _last_updated(resource))
                previous = self.matches.get(label)
                # A resource updated while we paged can show up twice: keep the newer version.
                if previous is None or (match.updated or _EPOCH) >= (previous.updated or _EPOCH):
                    self.matches[label] = match
            elif kind != "OperationOutcome" and key is not None:
                self.included.setdefault(key, entry)

    def _parse_group(self, members: list[_Match]) -> list[PrescriptionIn]:
        entries = [match.entry for match in members]
        added: set[str] = set()
        try:
            for match in members:
                for reference in _references(match.entry["resource"]):
                    if reference in added:
                        continue
                    extra = self._resolve(reference)
                    if extra is not None:
                        added.add(reference)
                        entries.append(extra)
            collection = {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [
                    {key: entry[key] for key in ("fullUrl", "resource") if key in entry} for entry in entries
                ],
            }
            return parse_bundle(json.dumps(collection).encode())
        except SourceInputError as exc:
            self.errors.extend((match.label, str(exc)) for match in members)
            return []

    def _resolve(self, reference: str) -> dict[str, Any] | None:
        """The included entry for "Type/id", else (Patients only) the resource fetched from the server."""
        if reference in self.included:
            return self.included[reference]
        kind, _, rid = reference.partition("/")
        if kind != "Patient":
            return None  # a Medication not included: the parser falls back to medicationReference.display
        if reference not in self.patients:
            self.patients[reference] = self._fetch_patient(rid)
        patient = self.patients[reference]
        if patient is None:
            raise SourceInputError([("not-found", f"{reference} was not found on the FHIR server", None)])
        return {"fullUrl": f"{self.base}/{reference}", "resource": patient}

    def _fetch_patient(self, rid: str) -> dict[str, Any] | None:
        response = self.puller._get(self.client, f"{self.base}/Patient/{rid}")
        if response.status_code in (404, 410):
            return None
        _raise_for_status(response, f"Patient/{rid}")
        body = _json(response, f"Patient/{rid}")
        if body.get("resourceType") != "Patient":
            return None
        return body


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _references(resource: dict[str, Any]) -> list[str]:
    """``Type/id`` of the subject and medicationReference, when they point outside the resource."""
    found: list[str] = []
    for name in ("subject", "medicationReference"):
        value = resource.get(name)
        reference = value.get("reference") if isinstance(value, dict) else None
        if isinstance(reference, str) and not reference.startswith("#"):
            match = _TYPE_ID_TAIL.search(reference.strip())
            if match:
                found.append(f"{match[1]}/{match[2]}")
    return found


def _groups(matches: Iterable[_Match]) -> list[list[_Match]]:
    """Group MedicationRequests into paper prescriptions, never finer than the parser groups them."""
    groups: dict[tuple[str, str], list[_Match]] = {}
    for match in matches:
        groups.setdefault(_prescription_key(match), []).append(match)
    return list(groups.values())


def _prescription_key(match: _Match) -> tuple[str, str]:
    resource = match.entry["resource"]
    identifiers = [
        identifier
        for identifier in resource.get("identifier") or []
        if isinstance(identifier, dict)
        and isinstance(identifier.get("value"), str)
        and identifier["value"].strip()
    ]
    chosen = next(
        (
            identifier
            for identifier in identifiers
            if _system_key(identifier.get("system")).startswith(PRESCRIPTION_SYSTEM_PREFIX)
        ),
        None,
    )
    group = resource.get("groupIdentifier")
    if (
        chosen is None
        and isinstance(group, dict)
        and isinstance(group.get("value"), str)
        and group["value"].strip()
    ):
        chosen = group
    if chosen is None and identifiers:
        chosen = identifiers[0]
    if chosen is None:
        return ("", match.label)  # the parser will reject it, alone
    return (_system_key(chosen.get("system")), chosen["value"].strip())


def _system_key(uri: object) -> str:
    return _SCHEME.sub("", uri.strip().lower()).rstrip("/") if isinstance(uri, str) else ""


def _last_updated(resource: dict[str, Any]) -> datetime | None:
    meta = resource.get("meta")
    value = meta.get("lastUpdated") if isinstance(meta, dict) else None
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _request(client: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
    try:
        return client.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        raise PullError([f"{method} {url} timed out"], None, retryable=True) from exc
    except httpx.TransportError as exc:
        raise PullError([f"{method} {url} failed: {exc.__class__.__name__}"], None, retryable=True) from exc
    except httpx.RequestError as exc:  # undecodable body, redirect loop: asking again will not help
        raise PullError([f"{method} {url} failed: {exc.__class__.__name__}"], None, retryable=False) from exc


def _raise_for_status(response: httpx.Response, what: str) -> None:
    status = response.status_code
    if status < 400:
        return
    retryable = status >= 500 or status in RETRYABLE_STATUSES
    messages = _outcome_messages(response) or [
        f"{what}: HTTP {status} {response.text.strip()[:MAX_ERROR_TEXT] or response.reason_phrase}"
    ]
    raise PullError(messages, status, retryable=retryable)


def _outcome_messages(response: httpx.Response) -> list[str]:
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return []
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        return []
    messages: list[str] = []
    for issue in body.get("issue") or []:
        if not isinstance(issue, dict):
            continue
        details = issue.get("details")
        text = (
            issue.get("diagnostics")
            or (details.get("text") if isinstance(details, dict) else None)
            or str(issue.get("code", "unknown"))
        )
        messages.append(f"{issue.get('severity', 'error')} {issue.get('code', 'unknown')}: {text}")
    return messages


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except (ValueError, RecursionError) as exc:
        raise PullError([f"{what}: response is not JSON"], response.status_code, retryable=False) from exc
    if not isinstance(body, dict):
        raise PullError([f"{what}: response is not a JSON object"], response.status_code, retryable=False)
    return body
