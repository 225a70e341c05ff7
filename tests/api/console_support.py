"""Helpers for the console tests: a browser of one's own, the form's CSRF token, the audit rows."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

CSRF_FIELD = re.compile(r'<input type="hidden" name="csrf" value="([0-9a-f]{64})">')
CSRF_REFUSED = "CSRF token tidak valid / invalid CSRF token"


def console_login(app: Any, username: str) -> TestClient:
    """A browser of its own (own cookie jar), logged in through the form with ``make_staff``'s password."""
    browser = TestClient(app, follow_redirects=False)
    response = browser.post(
        "/console/login", data={"username": username, "password": f"{username}-password-123"}
    )
    assert response.status_code == 303, response.text
    return browser


def csrf_of(browser: TestClient, path: str = "/console") -> str:
    page = browser.get(path)
    assert page.status_code == 200, page.text
    [token] = set(CSRF_FIELD.findall(page.text))
    return token


def audit_rows(fetch: Any, action: str | None = None) -> list[Any]:
    from dispatch.audit.models import AuditEntry

    return fetch(AuditEntry) if action is None else fetch(AuditEntry, AuditEntry.action == action)
