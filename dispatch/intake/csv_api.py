"""CSV intake: upload through the API and the console, bad rows reported one by one."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["csv"])
