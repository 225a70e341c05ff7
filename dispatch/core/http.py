"""Small request helpers shared by the API routers."""

from __future__ import annotations

from fastapi import Request


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
