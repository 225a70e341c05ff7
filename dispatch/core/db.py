"""Engine, sessions and the column types shared by every table.

PostgreSQL in production, a SQLite file as the embedded default: the same models and migrations serve both.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any

import psycopg
import sqlalchemy as sa
from fastapi import Depends
from sqlalchemy import DateTime, event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import ORMExecuteState
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel, create_engine
from starlette.types import ASGIApp, Receive, Scope, Send

from dispatch.core.settings import settings


class UTCDateTime(TypeDecorator[datetime]):
    """Always hands back aware UTC datetimes, even from SQLite, which forgets the zone."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL and a busy timeout let the API, the worker and beat share one SQLite file."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@event.listens_for(Session, "do_orm_execute")
def _sqlite_lock_for_update(state: ORMExecuteState) -> None:
    """SQLite has no row locks and ignores FOR UPDATE. A read meant to be acted upon takes the database's
    write lock instead (BEGIN IMMEDIATE), so two workers cannot both act on the same order state; the
    Python driver otherwise starts the transaction only at the first write, after both have read.

    Repositories therefore ask FOR UPDATE on every database. The SKIP LOCKED claims (the outbox relay, the
    source poller) stay PostgreSQL-only: a poll holding the whole SQLite database for minutes would lock out
    the very sessions that store what it reads."""
    if not state.is_select or state.statement._for_update_arg is None:  # type: ignore[attr-defined]
        return
    connection = state.session.connection()
    if connection.dialect.name != "sqlite":
        return
    raw = connection.connection.dbapi_connection
    if raw is not None and not raw.in_transaction:
        raw.execute("BEGIN IMMEDIATE")


# Connections to PostgreSQL per process: kept open, and opened on demand beyond those.
POOL_SIZE = 10
POOL_OVERFLOW = 20
# Requests one API process works on at once. FastAPI hops to a worker thread for each sync dependency,
# the endpoint and the response's validation; a request between hops keeps its session's connection, so
# with more requests in flight than connections every thread can end up waiting for a connection held by a
# request that waits for a thread. Kept below the pool by a margin for the few second sessions (an outbox
# publish the broker refused, the autocommit reads use their own pool).
REQUESTS_IN_FLIGHT = POOL_SIZE + POOL_OVERFLOW - 5


class RequestsWithinPool:
    """ASGI middleware: the requests beyond ``REQUESTS_IN_FLIGHT`` wait on the event loop, holding nothing."""

    def __init__(self, app: ASGIApp, limit: int = REQUESTS_IN_FLIGHT) -> None:
        self.app = app
        self.limit = limit
        self._slots: asyncio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._slots is None:  # created in the server's event loop, not at import
            self._slots = asyncio.Semaphore(self.limit)
        async with self._slots:
            await self.app(scope, receive, send)


@lru_cache(maxsize=1)
def get_engine() -> Engine:
    url = settings.sqlalchemy_url
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW)


# The reads of read_rows run on the API's event loop, which waits with them: a read stuck behind a lock
# (a migration's) is cancelled after this rather than freezing every request of its process.
READ_TIMEOUT_MS = 2000


@lru_cache(maxsize=2)
def _autocommit_engine(url: str) -> Engine:
    """Keyed by the URL, as the fault suite points the service at another PostgreSQL and back."""
    return create_engine(
        url,
        isolation_level="AUTOCOMMIT",
        pool_size=2,
        max_overflow=8,
        connect_args={"options": f"-c statement_timeout={READ_TIMEOUT_MS}"},
    )


def read_rows(statement: sa.Executable, parameters: dict[str, Any]) -> Sequence[sa.Row[*tuple[Any, ...]]]:
    """The rows of one read-only statement run on its own, for the pages read most (the patient's tracking
    link): in autocommit and without the pool's ping before each checkout, so one round trip to PostgreSQL
    instead of four (ping, BEGIN, the statement, ROLLBACK), about 3 ms of CPU less per read. A pooled
    connection found dead (PostgreSQL restarted) is dropped with the rest of its pool and the read is tried
    once more. On SQLite, the embedded single-process install, the ordinary engine serves."""
    if settings.is_sqlite:
        with get_engine().connect() as connection:
            return connection.execute(statement, parameters).all()
    engine = _autocommit_engine(settings.sqlalchemy_url)
    try:
        with engine.connect() as connection:
            return connection.execute(statement, parameters).all()
    except sa.exc.DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    with engine.connect() as connection:
        return connection.execute(statement, parameters).all()


def new_session() -> Session:
    return Session(get_engine(), expire_on_commit=False)


async def get_session() -> AsyncIterator[Session]:
    """The request owns the transaction: endpoints commit before they answer; anything else rolls back.

    Asynchronous so that the session is closed on the event loop: a request holding a pooled connection
    must never wait for a free worker thread to hand it back, while the threads wait for connections (200
    releases at once deadlocked the pool against the thread pool until the pool's 30 s timeout).
    """
    with new_session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def is_postgres(session: Session) -> bool:
    bind = session.get_bind()
    return bind.dialect.name == "postgresql"


def enum_column_type(enum_cls: type[enum.StrEnum]) -> sa.Enum:
    """Store enum *values* as plain VARCHAR: new states need no ALTER TYPE, and SQLite reads the same."""
    return sa.Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=32,
        values_callable=lambda members: [member.value for member in members],
    )


FEW_ROWS = 20


def insert_rows(session: Session, model: type[SQLModel], rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert plain rows with the model's declared defaults and return their ids, in the order given.

    For intake batches of thousands: building SQLModel objects costs about 0.2 ms each, more than the insert.
    A few rows (one FHIR Bundle's) go as one ``INSERT … RETURNING``, a single round trip. Many rows on
    PostgreSQL have their ids drawn from the sequence first and go by COPY (13 µs a row, against 35 µs for a
    pipelined executemany; a multi-row ``INSERT … RETURNING`` is slower still at that size, most of it spent
    in psycopg parsing the huge statement).
    """
    if not rows:
        return []
    table = model.__table__  # type: ignore[attr-defined]
    defaults = _declared_defaults(model)
    full = [{**defaults, **row} for row in rows]
    if len(full) <= FEW_ROWS or not is_postgres(session):
        returned = session.execute(sa.insert(table).returning(table.c.id, sort_by_parameter_order=True), full)
        return list(returned.scalars())
    sequence = sa.func.pg_get_serial_sequence(table.name, "id")
    ids = list(
        session.execute(
            sa.select(sa.func.nextval(sequence)).select_from(sa.func.generate_series(1, len(full)))
        ).scalars()
    )
    connection = session.connection()
    # Each column's own bind processing (JSON to text, enums to values, UTC datetimes), as an INSERT does.
    columns = [
        (column.name, column.type._cached_bind_processor(connection.dialect)) for column in table.columns
    ]
    names = ", ".join(connection.dialect.identifier_preparer.quote(name) for name, _ in columns)
    raw = connection.connection.dbapi_connection
    assert isinstance(raw, psycopg.Connection)
    with raw.cursor() as cursor, cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
        for row, row_id in zip(full, ids, strict=True):
            row["id"] = row_id
            copy.write_row([process(row[name]) if process else row[name] for name, process in columns])
    return ids


def _declared_defaults(model: type[SQLModel]) -> dict[str, Any]:
    """Each field's default, factories called once: the values are serialised at once, so rows may share."""
    defaults: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if name == "id":
            continue
        if field.default_factory is not None:
            defaults[name] = field.default_factory()  # type: ignore[call-arg]
        elif not field.is_required():
            defaults[name] = field.default
    return defaults
