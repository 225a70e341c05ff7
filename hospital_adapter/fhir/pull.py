"""Pull mode: poll a hospital FHIR R4 server for MedicationRequests changed since a watermark.

One :meth:`FhirPuller.pull` is::

    GET {base}/MedicationRequest?_lastUpdated=ge{since}&_include=MedicationRequest:subject
        &_include=MedicationRequest:medication&_count=N&{search_params}

following ``link[relation=next]`` to the last page. Raw first: every page is handed to the caller's
``archive`` exactly as the server sent it, before it is even decoded, and everything read from it is
reported against the id ``archive`` gave it. A page that is not a readable searchset (no resource in an
entry, another Bundle type) is refused as a whole with its reason, and paging goes on through its next link;
a page that is not a JSON Bundle at all stops the pull, since it has no next link to follow.

A Patient, Medication or Coverage (``insurance``) a request names but no page included (servers may ignore
``_include`` or page includes separately) is fetched after the last page with ``GET {base}/{Type}/{id}``,
once per pull, with the same token; those answers are archived too before they are read. A reference that
cannot be fetched fails only the prescriptions naming it: for good on 404/410, and after
``fetch_attempts`` tries on 5xx, 408, 429 or a transport error, in which case the watermark stays at that
request so the next pull reads it again.

The MedicationRequests are then grouped into paper prescriptions (the SATUSEHAT ``prescription/``
identifier, else ``groupIdentifier``, else the first identifier, as the parser does) and each group, with
its Patient, Medications and Coverages, is wrapped in a ``collection`` Bundle and given to
:func:`parse_bundle`. Grouping *before* parsing is what keeps a bad resource from failing the pull: a group
the parser rejects becomes one refusal per MedicationRequest in it, and the other groups are still returned.

:meth:`FhirPuller.reread` reads again what one archived page named, for re-processing it after the fix its
refusal called for (a Patient created, say). It asks for the current version of those MedicationRequests::

    GET {base}/MedicationRequest?_id={id},{id},…&_include=…&_count=N&{search_params}

then for every request of the same patients (``subject=Patient/{id},…``), because a paper prescription may
have been split across pages and taking only its items on this one would amend away the others. Of the
second search only the prescriptions the page named are kept. References, grouping and parsing are then
those of a pull; pages and fetched resources are archived in the same way. A reference that cannot be
fetched for a reason that may pass fails the whole re-read, since no later pull will read it again.

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
from collections.abc import Callable, Iterable, Mapping
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
# A referenced resource is asked for again after 1 s, 2 s, … up to ``fetch_attempts`` tries.
RETRY_DELAY_SECONDS = 1.0
PRESCRIPTION_SYSTEM_PREFIX = "sys-ids.kemkes.go.id/prescription/"

_SCHEME = re.compile(r"^https?://")
_TYPE_ID_TAIL = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]*)?$")

# Stores raw server answers before anything reads them; returns one id per body, in order.
Archive = Callable[[list[bytes]], list[int]]
# (id of the archived page, reason): what could not be taken, OperationOutcome-style.
Refusal = tuple[int, str]


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
    fetch_attempts: int = Field(
        default=3, ge=1, le=10, description="Tries per referenced resource on 5xx, 408, 429, timeouts"
    )
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
    """The FHIR or OAuth server refused or failed; ``retryable`` says whether asking again later can help.

    ``archive_id`` is the archived page the failure is about, if any: not a Bundle, or a next link not to follow.
    """

    def __init__(self, messages: list[str], status: int | None, *, retryable: bool) -> None:
        super().__init__("; ".join(messages) or "FHIR pull failed")
        self.messages = messages
        self.status = status
        self.retryable = retryable
        self.archive_id: int | None = None


@dataclass
class PullResult:
    """Prescriptions parsed, each with the archive id of the page it was read from; refusals; the next ``since``.

    A prescription whose items came on several pages is reported against the page of its first item. A
    refusal names the page and, for a bad prescription, its MedicationRequest ("MedicationRequest/id: …").

    ``watermark`` is the newest ``meta.lastUpdated`` of any MedicationRequest seen (including rejected
    ones, which are reported in ``errors`` rather than polled forever), else the ``since`` passed in; it is
    None only when a first pull (``since=None``) found nothing, and always for a re-read. It stays at the
    oldest request whose referenced resource could not be fetched for a reason that may pass, so that one is
    read again.
    """

    prescriptions: list[tuple[PrescriptionIn, int]] = field(default_factory=list)
    errors: list[Refusal] = field(default_factory=list)
    watermark: datetime | None = None


@dataclass
class _Match:
    """One MedicationRequest from the search, with the fullUrl the server gave it."""

    label: str
    entry: dict[str, Any]
    updated: datetime | None
    page: int


@dataclass(frozen=True)
class _Unfetched:
    """Why a referenced resource is missing: an OperationOutcome issue code (``transient`` may pass) and text."""

    code: str
    reason: str


class FhirPuller:
    """Polls one FHIR server. Keep one instance per hospital: the OAuth token is cached on it across pulls."""

    def __init__(
        self,
        settings: FhirPullSettings,
        transport: httpx.BaseTransport | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self._transport = transport
        self._sleep = sleep
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

    def pull(self, since: datetime | None, archive: Archive) -> PullResult:
        """Fetch every MedicationRequest updated after ``since`` (aware datetime), archive it raw, parse it."""
        if since is not None and since.tzinfo is None:
            raise ValueError("since must be timezone-aware")
        with httpx.Client(transport=self._transport, timeout=self.settings.timeout) as client:
            return _Pull(self, client, archive).run(since)

    def reread(self, request_ids: list[str], archive: Archive) -> PullResult:
        """The current version of these MedicationRequests (ids, as :func:`requests_named` gives them), each with
        the whole prescription it belongs to, archived raw and parsed; ``watermark`` is None."""
        with httpx.Client(transport=self._transport, timeout=self.settings.timeout) as client:
            return _Pull(self, client, archive).reread(request_ids)

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
    """State of one pull: pages seen, resources the pages did not include, refusals."""

    def __init__(self, puller: FhirPuller, client: httpx.Client, archive: Archive) -> None:
        self.puller = puller
        self.client = client
        self.archive = archive
        self.base = puller.settings.base_url
        self.matches: dict[str, _Match] = {}
        self.included: dict[str, dict[str, Any]] = {}  # "Type/id" → entry, from any page
        self.fetched: dict[str, dict[str, Any] | _Unfetched] = {}  # "Type/id" → entry, or why there is none
        self.errors: list[Refusal] = []
        self.held: list[datetime | None] = []  # lastUpdated of requests to read again at the next pull

    def run(self, since: datetime | None) -> PullResult:
        # ge, not gt: a write in the same instant as the last one seen is not lost; a repeat is harmless
        # because intake is idempotent on the prescription and its content.
        self._search({"_lastUpdated": f"ge{_instant(since)}"} if since is not None else {})
        # After the last page: a server that pages its includes separately may send them later.
        self._fetch_missing()
        prescriptions = self._parse_groups(_groups(self.matches.values()))
        return PullResult(prescriptions=prescriptions, errors=self.errors, watermark=self._watermark(since))

    def reread(self, request_ids: list[str]) -> PullResult:
        named = {f"MedicationRequest/{rid}" for rid in request_ids}
        pages = [page_id for ids in _chunks(request_ids) for page_id in self._search({"_id": ",".join(ids)})]
        subjects = sorted(
            {
                key
                for label in named & self.matches.keys()
                if (key := _reference_key(self.matches[label].entry["resource"].get("subject"))) is not None
            }
        )
        # The page's prescriptions whole, wherever their other items are; the patients' other ones are not ours.
        for references in _chunks(subjects):
            self._search({"subject": ",".join(references)})
        groups = [members for members in _groups(self.matches.values()) if named & {m.label for m in members}]
        self.matches = {match.label: match for members in groups for match in members}
        # Named but gone: refused against the first page that should have held them.
        self.errors.extend(
            (pages[0], f"{label}: {_issue_text('error', 'not-found', _GONE)}")
            for label in sorted(named - self.matches.keys())
        )
        self._fetch_missing()
        passing = [
            found.reason
            for found in self.fetched.values()
            if isinstance(found, _Unfetched) and found.code == "transient"
        ]
        if passing:
            raise PullError(passing, None, retryable=True)
        return PullResult(prescriptions=self._parse_groups(groups), errors=self.errors)

    def _watermark(self, since: datetime | None) -> datetime | None:
        watermark = max((match.updated for match in self.matches.values() if match.updated), default=None)
        if self.held:
            # The next pull asks from this instant on (ge), so what was held back is read again; without an
            # instant to go by, it asks again from ``since``.
            known = [moment for moment in self.held if moment is not None]
            watermark = min(known) if len(known) == len(self.held) else None
        if since is not None and (watermark is None or watermark < since):
            watermark = since
        return watermark

    def _search(self, criteria: dict[str, str]) -> list[int]:
        """Every page of one MedicationRequest search, collected; returns the archive ids of its pages."""
        settings = self.puller.settings
        query: dict[str, Any] = {
            **settings.search_params,
            "_include": ["MedicationRequest:subject", "MedicationRequest:medication"],
            "_count": str(settings.page_size),
            **criteria,
        }
        page_ids: list[int] = []
        for page_id, bundle in self._pages(query):
            page_ids.append(page_id)
            if bundle is not None:
                self._collect(page_id, bundle)
        return page_ids

    def _pages(self, query: dict[str, Any]) -> Iterable[tuple[int, dict[str, Any] | None]]:
        """Each page is archived as the server sent it before it is read; an unreadable one is refused (and
        given as None)."""
        settings = self.puller.settings
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
            [page_id] = self.archive([response.content])
            seen.add(str(response.request.url))
            try:
                bundle = _json(response, "MedicationRequest search")
                if bundle.get("resourceType") != "Bundle":
                    raise PullError(
                        [f"Search answered with {bundle.get('resourceType')!r}, not a Bundle"],
                        response.status_code,
                        retryable=False,
                    )
                url = self._next_link(bundle)
                if url is not None and url in seen:
                    raise PullError([f"Search next link loops back to {url}"], None, retryable=False)
            except PullError as exc:
                exc.archive_id = page_id  # the page that stopped the paging is the one to look at
                raise
            params = None  # the next link carries the whole query; {} would wipe it
            problems = _page_problems(bundle)
            if problems:
                self.errors.append((page_id, "; ".join(problems)))
            yield page_id, None if problems else bundle

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

    def _collect(self, page_id: int, bundle: dict[str, Any]) -> None:
        for position, entry in enumerate(bundle.get("entry") or []):
            resource = entry["resource"]
            kind = resource["resourceType"]
            mode = (entry.get("search") or {}).get("mode")
            rid = resource.get("id")
            key = f"{kind}/{rid}" if isinstance(rid, str) else None
            if kind == "MedicationRequest" and mode in (None, "match"):
                label = key or entry.get("fullUrl") or f"MedicationRequest (entry {position})"
                match = _Match(label, entry, _last_updated(resource), page_id)
                previous = self.matches.get(label)
                # A resource updated while we paged can show up twice: keep the newer version.
                if previous is None or (match.updated or _EPOCH) >= (previous.updated or _EPOCH):
                    self.matches[label] = match
            elif kind != "OperationOutcome" and key is not None:
                self.included.setdefault(key, entry)

    def _fetch_missing(self) -> None:
        """GET each resource the requests name and no page included, once; archive the answers, then read."""
        named = {
            reference for match in self.matches.values() for reference in _references(match.entry["resource"])
        }
        answers = {reference: self._fetch(reference) for reference in sorted(named - self.included.keys())}
        bodies = [answer.content for answer in answers.values() if isinstance(answer, httpx.Response)]
        if bodies:
            self.archive(bodies)
        for reference, answer in answers.items():
            self.fetched[reference] = (
                self._read(reference, answer) if isinstance(answer, httpx.Response) else answer
            )

    def _fetch(self, reference: str) -> httpx.Response | _Unfetched:
        """``GET {base}/{Type}/{id}``, asked again after 5xx, 408, 429 or a transport error.

        Only a refusal of our credentials (401 after a fresh token, 403) fails the whole pull: it would
        refuse every other reference too. Anything else fails just the prescriptions that name the resource.
        """
        attempts = self.puller.settings.fetch_attempts
        last = ""
        for attempt in range(attempts):
            if attempt:
                self.puller._sleep(RETRY_DELAY_SECONDS * 2 ** (attempt - 1))
            try:
                response = self.puller._get(self.client, f"{self.base}/{reference}")
                _raise_for_status(response, reference)
                return response
            except PullError as exc:
                if exc.status in (401, 403):
                    raise
                if exc.status in (404, 410):
                    return _Unfetched(
                        "not-found", f"{reference} was not found on the FHIR server (HTTP {exc.status})"
                    )
                if not exc.retryable:
                    return _Unfetched("processing", f"{reference} could not be fetched: {exc}")
                last = str(exc)
        return _Unfetched("transient", f"{reference} could not be fetched in {attempts} attempts ({last})")

    def _read(self, reference: str, response: httpx.Response) -> dict[str, Any] | _Unfetched:
        kind = reference.partition("/")[0]
        try:
            body = _json(response, reference)
        except PullError as exc:
            return _Unfetched("processing", str(exc))
        if body.get("resourceType") != kind:
            return _Unfetched(
                "processing", f"{reference}: the server answered with {body.get('resourceType')!r}"
            )
        return {"fullUrl": f"{self.base}/{reference}", "resource": body}

    def _parse_groups(self, groups: list[list[_Match]]) -> list[tuple[PrescriptionIn, int]]:
        """Each prescription with the page of its first item."""
        return [
            (prescription, members[0].page)
            for members in groups
            for prescription in self._parse_group(members)
        ]

    def _parse_group(self, members: list[_Match]) -> list[PrescriptionIn]:
        entries = [match.entry for match in members]
        named = dict.fromkeys(
            reference for match in members for reference in _references(match.entry["resource"])
        )
        try:
            entries.extend(self._resolve(reference) for reference in named)
            entries.extend(self._coverages_of({ref for ref in named if ref.startswith("Patient/")}, named))
            collection = {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [
                    {key: entry[key] for key in ("fullUrl", "resource") if key in entry} for entry in entries
                ],
            }
            return parse_bundle(json.dumps(collection).encode())
        except SourceInputError as exc:
            reason = "; ".join(_issue_text("error", code, diagnostics) for code, diagnostics, _ in exc.issues)
            if any(code == "transient" for code, _, _ in exc.issues):
                self.held.extend(match.updated for match in members)
                reason += "; it is asked for again at the next pull"
            self.errors.extend((match.page, f"{match.label}: {reason}") for match in members)
            return []

    def _resolve(self, reference: str) -> dict[str, Any]:
        found = self.included.get(reference) or self.fetched[reference]
        if isinstance(found, _Unfetched):
            raise SourceInputError([(found.code, found.reason, None)])
        return found

    def _coverages_of(self, patients: set[str], named: Mapping[str, None]) -> list[dict[str, Any]]:
        """Included Coverages of these patients that no request names: the parser counts them too."""
        return [
            entry
            for key, entry in self.included.items()
            if key.startswith("Coverage/")
            and key not in named
            and _reference_key(entry["resource"].get("beneficiary")) in patients
        ]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Ids or references per re-read search: a few kB of URL, which every server and proxy accepts.
_PER_SEARCH = 50
_GONE = "no longer returned by the FHIR server (deleted, or its status is outside the source's search)"


def requests_named(page: bytes) -> list[str]:
    """Ids of the MedicationRequests an archived search page matched, from the resource or else its fullUrl
    (a page refused for an entry without its resource still names it there); empty if it is not a Bundle."""
    try:
        bundle = json.loads(page)
    except (ValueError, RecursionError):
        return []
    entries = bundle.get("entry") if isinstance(bundle, dict) else None
    named: dict[str, None] = {}
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        search = entry.get("search")
        if isinstance(search, dict) and search.get("mode") not in (None, "match"):
            continue
        resource = entry.get("resource")
        reference = (
            f"{resource.get('resourceType')}/{resource['id']}"
            if isinstance(resource, dict) and "id" in resource
            else entry.get("fullUrl")
        )
        # Through the id pattern: what goes into our search URL must be an id, not a list or a query.
        kind, _, rid = (_reference_key({"reference": reference}) or "").partition("/")
        if kind == "MedicationRequest" and rid:
            named[rid] = None
    return list(named)


def _chunks(values: list[str]) -> list[list[str]]:
    return [values[start : start + _PER_SEARCH] for start in range(0, len(values), _PER_SEARCH)]


def _page_problems(bundle: dict[str, Any]) -> list[str]:
    """What makes a search page unusable as a whole, OperationOutcome-style.

    A readable page with a bad resource in it is not refused here: that fails only its prescription, in the
    parser, and the other prescriptions on the page are still taken.
    """
    problems: list[str] = []
    if bundle.get("type") != "searchset":
        problems.append(
            _issue_text("error", "invalid", f"Bundle.type is {bundle.get('type')!r}, not 'searchset'")
        )
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        return [*problems, _issue_text("error", "structure", "Bundle.entry is not a list")]
    for position, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            problems.append(_issue_text("error", "required", f"Bundle.entry[{position}] has no resource"))
    return problems


def _references(resource: dict[str, Any]) -> list[str]:
    """``Type/id`` of the subject, medicationReference and insurance a request names outside itself."""
    found: list[str] = []
    for name in ("subject", "medicationReference", "insurance"):
        value = resource.get(name)
        for reference in value if isinstance(value, list) else [value]:
            key = _reference_key(reference)
            if key is not None:
                found.append(key)
    return found


def _reference_key(value: object) -> str | None:
    """``Type/id`` of a relative or absolute Reference; None for ``#contained``, ``urn:`` and the like."""
    reference = value.get("reference") if isinstance(value, dict) else None
    if not isinstance(reference, str) or reference.startswith("#"):
        return None
    match = _TYPE_ID_TAIL.search(reference.strip())
    return f"{match[1]}/{match[2]}" if match else None


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
        messages.append(_issue_text(issue.get("severity", "error"), issue.get("code", "unknown"), text))
    return messages


def _issue_text(severity: object, code: object, text: object) -> str:
    """One OperationOutcome issue as a line of text, whether the server or we found it."""
    return f"{severity} {code}: {text}"


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except (ValueError, RecursionError) as exc:
        raise PullError([f"{what}: response is not JSON"], response.status_code, retryable=False) from exc
    if not isinstance(body, dict):
        raise PullError([f"{what}: response is not a JSON object"], response.status_code, retryable=False)
    return body
