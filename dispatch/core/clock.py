"""One clock for the whole service: UTC, aware; WIB only when showing time to people."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

WIB = ZoneInfo("Asia/Jakarta")


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_wib(moment: datetime) -> datetime:
    return moment.astimezone(WIB)


def format_wib(moment: datetime) -> str:
    return as_wib(moment).strftime("%d/%m/%Y %H:%M WIB")
