"""Small request helpers shared by the API routers."""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import Path, Query, Request

# Row ids are PostgreSQL integers; a larger number in a URL is no row, not a database error.
MAX_ROW_ID: Final = 2**31 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
Offset = Annotated[int, Query(ge=0, le=MAX_ROW_ID)]


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def client_address(request: Request) -> str:
    """The caller's address as the server saw it (see ``dispatch.core.ratelimit`` for proxies)."""
    return request.client.host if request.client else "unknown"
