"""Write MedicationDispense (or any resource) to a hospital FHIR server or SATUSEHAT.

Auth modes (hospital.md §2.1):

- ``none``: no ``Authorization`` header (a FHIR server on the hospital LAN).
- ``bearer``: a static token from the hospital.
- ``oauth2_client_credentials``: SATUSEHAT style, ``POST {oauth_url}/accesstoken?grant_type=client_credentials``
  with a form body ``client_id`` / ``client_secret``. The token is cached until ``expires_in`` minus a margin, and
  a ``401`` on a resource call drops it, fetches a new one and retries that call once.

Errors become :class:`~hospital_adapter.sinks.errors.SinkError`: OperationOutcome diagnostics as messages, 5xx /
408 / 429 / timeouts / connection errors retryable, other 4xx not. Secrets are ``SecretStr`` and never logged.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, field_validator, model_validator

from hospital_adapter.oauth import ClientCredentialsToken
from hospital_adapter.sinks.errors import SinkError, is_retryable_status, parse_retry_after

__all__ = ["FhirServerClient", "FhirServerSettings", "SinkError"]

logger = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
MAX_TEXT_MESSAGE = 300


class FhirServerSettings(BaseModel):
    """Where and how to write. ``base_url`` is the FHIR base, e.g. ``https://…/fhir-r4/v1``."""

    model_config = ConfigDict(hide_input_in_errors=True)  # errors must never echo a secret

    base_url: str
    auth: Literal["none", "bearer", "oauth2_client_credentials"] = "none"
    token: SecretStr | None = None
    oauth_url: str | None = None  # e.g. https://api-satusehat-stg.dto.kemkes.go.id/oauth2/v1
    client_id: str | None = None
    client_secret: SecretStr | None = None
    timeout: float = 30.0

    @field_validator("base_url", "oauth_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _auth_complete(self) -> FhirServerSettings:
        if self.auth == "bearer" and not (self.token and self.token.get_secret_value()):
            raise ValueError("auth=bearer needs a token")
        if self.auth == "oauth2_client_credentials" and not (
            self.oauth_url and self.client_id and self.client_secret and self.client_secret.get_secret_value()
        ):
            raise ValueError("auth=oauth2_client_credentials needs oauth_url, client_id and client_secret")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")
        return self


class FhirServerClient:
    """A small synchronous FHIR writer; inject ``transport`` (e.g. respx) in tests."""

    def __init__(
        self,
        settings: FhirServerSettings,
        transport: httpx.BaseTransport | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._http = httpx.Client(transport=transport, timeout=settings.timeout, follow_redirects=False)
        self._oauth = (
            ClientCredentialsToken(
                settings.oauth_url,
                settings.client_id or "",
                settings.client_secret.get_secret_value() if settings.client_secret else "",
                clock=clock,
            )
            if settings.auth == "oauth2_client_credentials" and settings.oauth_url
            else None
        )

    def __enter__(self) -> FhirServerClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def post_resource(self, resource: dict[str, Any]) -> str:
        """Create ``resource``; return the server's id (from the body, else the ``Location`` header)."""
        resource_type = resource.get("resourceType")
        if not isinstance(resource_type, str) or not resource_type.isalpha():
            raise ValueError("resource has no valid resourceType")
        url = f"{self.settings.base_url}/{resource_type}"
        body = json.dumps(resource, ensure_ascii=False).encode()
        response = self._send(url, body, self._auth_header())
        if response.status_code == 401 and self._oauth is not None:
            logger.info("FHIR server answered 401; refreshing the access token once")
            self._oauth.forget()
            response = self._send(url, body, self._auth_header())
        if not response.is_success:
            raise _error(response)
        logger.info("created %s at %s (HTTP %s)", resource_type, self.settings.base_url, response.status_code)
        return _created_id(response)

    def _send(self, url: str, body: bytes, auth: dict[str, str]) -> httpx.Response:
        headers = {"Content-Type": "application/json", "Accept": f"{FHIR_JSON}, application/json", **auth}
        return _request(self._http, "POST", url, content=body, headers=headers)

    def _auth_header(self) -> dict[str, str]:
        if self.settings.auth == "bearer":
            assert self.settings.token is not None  # checked by the settings validator
            return {"Authorization": f"Bearer {self.settings.token.get_secret_value()}"}
        if self.settings.auth == "oauth2_client_credentials":
            return {"Authorization": f"Bearer {self._access_token()}"}
        return {}

    def _access_token(self) -> str:
        assert self._oauth is not None  # auth == oauth2_client_credentials, checked by the settings
        cached = self._oauth.cached()
        if cached is not None:
            return cached
        response = _request(self._http, **self._oauth.request())
        if not response.is_success:
            error = _error(response)
            raise SinkError(
                ["access token request failed", *error.messages],
                error.status_code,
                error.retryable,
                error.retry_after,
            )
        try:
            token = self._oauth.accept(response.json())
        except ValueError as exc:
            raise SinkError([str(exc)], response.status_code, True) from exc
        logger.info("fetched an access token")
        return token


def _request(client: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
    try:
        return client.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        raise SinkError([f"timed out: {type(exc).__name__}"], None, True) from exc
    except httpx.TransportError as exc:
        raise SinkError([f"connection failed: {type(exc).__name__}"], None, True) from exc


def _error(response: httpx.Response) -> SinkError:
    status = response.status_code
    return SinkError(
        _messages(response),
        status,
        is_retryable_status(status),
        parse_retry_after(response.headers.get("retry-after")),
    )


def _messages(response: httpx.Response) -> list[str]:
    """OperationOutcome issues (diagnostics, else details.text, else code); else the text body, shortened."""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, dict) and payload.get("resourceType") == "OperationOutcome":
        messages = []
        for issue in payload.get("issue") or []:
            if not isinstance(issue, dict):
                continue
            text = issue.get("diagnostics") or (issue.get("details") or {}).get("text") or issue.get("code")
            if text:
                severity = issue.get("severity")
                messages.append(f"{severity}: {text}" if severity else str(text))
        if messages:
            return messages
    text = response.text.strip()
    if text:
        return [text[:MAX_TEXT_MESSAGE]]
    return [response.reason_phrase or f"HTTP {response.status_code}"]


def _created_id(response: httpx.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        payload = None
    is_resource = isinstance(payload, dict) and payload.get("resourceType") != "OperationOutcome"
    if is_resource and isinstance(payload.get("id"), str) and payload["id"]:
        return str(payload["id"])
    location = response.headers.get("location") or response.headers.get("content-location")
    if location:
        # {base}/{type}/{id}/_history/{vid} -> id
        parts = location.rstrip("/").split("/")
        if "_history" in parts:
            parts = parts[: parts.index("_history")]
        return parts[-1]
    raise SinkError(
        ["server accepted the resource but returned neither an id nor a Location"],
        response.status_code,
        False,
    )
