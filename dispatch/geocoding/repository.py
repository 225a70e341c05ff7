"""All SQL for the online geocoders' answer cache."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from dispatch.core.clock import utcnow
from dispatch.core.db import is_postgres
from dispatch.geocoding.models import GeocodeCacheEntry


def cached_answer(
    session: Session, provider: str, query_key: str, *, since: datetime
) -> GeocodeCacheEntry | None:
    """The provider's stored answer to the query, if it was given after ``since``."""
    query = select(GeocodeCacheEntry).where(
        GeocodeCacheEntry.provider == provider,
        GeocodeCacheEntry.query_key == query_key,
        GeocodeCacheEntry.created_at >= since,
    )
    return session.exec(query).first()


def store_answer(session: Session, provider: str, query_key: str, result: dict[str, Any] | None) -> None:
    """Keep (or refresh) an answer; two workers asking the same address at once both succeed."""
    dialect = postgresql if is_postgres(session) else sqlite
    statement = dialect.insert(GeocodeCacheEntry).values(
        provider=provider, query_key=query_key, result=result, created_at=utcnow()
    )
    statement = statement.on_conflict_do_update(
        index_elements=["provider", "query_key"],
        set_={"result": statement.excluded.result, "created_at": statement.excluded.created_at},
    )
    session.execute(statement)
