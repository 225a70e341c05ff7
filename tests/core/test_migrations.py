"""The migrations build exactly the schema the models declare, on PostgreSQL and on the embedded SQLite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import dispatch.models  # noqa: F401  (every table on the metadata)
from dispatch.core.db import get_engine


def _differences(engine: sa.Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))


def test_postgres_schema_matches_the_models(database: None) -> None:
    assert _differences(get_engine()) == []


def test_sqlite_schema_matches_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gancang.db'}"
    env = {
        "DATABASE_URL": url,
        "GANCANG_ENV": "test",
        "GANCANG_SECRET_KEY": "migration-test-secret-0123456789",
    }
    subprocess.run(
        [sys.executable, "-m", "dispatch", "db", "upgrade"], check=True, capture_output=True, env=env
    )
    assert _differences(sa.create_engine(url)) == []
