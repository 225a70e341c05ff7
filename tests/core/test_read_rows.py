"""read_rows, the tracking page's reads: one statement in autocommit, without the pool's ping before it; so a
pooled connection PostgreSQL has dropped (a restart, an idle timeout) must be replaced, not answered with a 500."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from dispatch.core.db import READ_TIMEOUT_MS, get_engine, read_rows

BACKEND = sa.select(sa.func.pg_backend_pid(), sa.func.current_setting("transaction_isolation"))


def test_a_read_after_postgresql_dropped_the_pooled_connection_is_answered(database: None) -> None:
    [(dropped, _)] = read_rows(BACKEND, {})
    with get_engine().connect() as connection:
        # With a timeout the call returns once the backend is gone, so the next read finds it dead.
        terminated = connection.execute(sa.select(sa.func.pg_terminate_backend(dropped, 5000))).scalar()
    assert terminated is True

    [(replacement, _)] = read_rows(BACKEND, {})

    assert replacement != dropped


def test_the_statement_is_its_own_transaction(database: None) -> None:
    """No BEGIN before it (a round trip): the transaction starts with the statement itself."""
    started_together = (
        sa.select(sa.column("xact_start") == sa.column("query_start"))
        .select_from(
            sa.table("pg_stat_activity", sa.column("pid"), sa.column("xact_start"), sa.column("query_start"))
        )
        .where(sa.column("pid") == sa.func.pg_backend_pid())
    )

    assert read_rows(started_together, {})[0][0] is True
    with get_engine().connect() as connection:  # the ordinary pool, for contrast: BEGIN, then the statement
        assert connection.execute(started_together).scalar() is False


def test_a_read_stuck_longer_than_the_timeout_is_cancelled(database: None) -> None:
    """It runs on the event loop: a stuck read must not hold every request of the process."""
    stuck = sa.select(sa.func.pg_sleep(READ_TIMEOUT_MS / 1000 + 5))
    started = time.monotonic()

    with pytest.raises(sa.exc.OperationalError, match="statement timeout"):
        read_rows(stuck, {})

    assert time.monotonic() - started < READ_TIMEOUT_MS / 1000 + 2
