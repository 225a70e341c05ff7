"""Fixtures for the fault tests: this suite's own PostgreSQL cluster and Redis, and the real stack on them.

The test process reads and seeds the same database the processes use: the settings' URLs are pointed at
the own instances for the module's duration and the cached engine is rebuilt, then both are put back for
the other suites of the run.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from faults_instances import OwnPostgres, OwnRedis, temp_root
from faults_support import Stack, running


@dataclass(frozen=True)
class Instances:
    postgres: OwnPostgres
    redis: OwnRedis


@pytest.fixture(scope="module")
def instances() -> Iterator[Instances]:
    from dispatch.core.db import get_engine
    from dispatch.core.migrate import upgrade_database
    from dispatch.core.settings import settings

    root = temp_root()
    postgres, redis = OwnPostgres(root), OwnRedis(root)
    postgres.init()
    redis.start()
    saved = (settings.database_url, settings.redis_url)
    settings.database_url, settings.redis_url = postgres.url, redis.url
    get_engine.cache_clear()
    try:
        upgrade_database()
        yield Instances(postgres, redis)
    finally:
        get_engine().dispose()
        settings.database_url, settings.redis_url = saved
        get_engine.cache_clear()
        redis.stop()
        postgres.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def clean(instances: Instances) -> None:
    """Each scenario starts on empty tables and an empty broker."""
    import redis as redis_client
    from sqlalchemy import text
    from sqlmodel import SQLModel

    import dispatch.models  # noqa: F401
    from dispatch.core.db import get_engine

    names = ", ".join(table.name for table in SQLModel.metadata.sorted_tables)
    with get_engine().begin() as connection:
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    redis_client.Redis.from_url(instances.redis.url).flushdb()


@pytest.fixture
def webhook_token() -> str:
    return secrets.token_urlsafe(24)


@pytest.fixture
def stack_factory(instances: Instances, clean: None, tmp_path: Path, webhook_token: str):  # type: ignore[no-untyped-def]
    """``with stack_factory(**sandbox_knobs) as stack``: the processes on the own instances."""

    def start(**sandbox_knobs: object):  # type: ignore[no-untyped-def]
        return running(
            instances.postgres.url, instances.redis.url, tmp_path / "var", webhook_token, **sandbox_knobs
        )

    return start


def report_failure(stack: Stack) -> str:
    return "\n".join(
        f"--- {name}.log ---\n{stack.log_tail(name)}" for name in ("worker", "api", "beat", "sandbox")
    )
