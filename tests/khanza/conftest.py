"""A throw-away Khanza-shaped MariaDB database for the Khanza adapter tests.

``KHANZA_TEST_ADMIN_URL`` (default ``mysql+pymysql://root@127.0.0.1:3306/``) must reach a MariaDB/MySQL
server as a user that may create databases and users. If it cannot, every test errors with a clear
message: nothing is skipped.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))

import khanza_seed

ADMIN_URL = os.environ.get("KHANZA_TEST_ADMIN_URL", "mysql+pymysql://root@127.0.0.1:3306/")
DB_NAME = f"gancang_khanza_test_{os.getpid()}"


@pytest.fixture(scope="session")
def admin_engine() -> Iterator[sa.Engine]:
    engine = sa.create_engine(ADMIN_URL, pool_pre_ping=True)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        engine.dispose()
        pytest.fail(
            f"MariaDB is not reachable at {ADMIN_URL} (set KHANZA_TEST_ADMIN_URL): {exc.orig}", pytrace=False
        )
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def khanza_db(admin_engine: sa.Engine) -> Iterator[str]:
    """The database name; the schema is created once per session."""
    khanza_seed.create_database(admin_engine, DB_NAME)
    url = sa.make_url(ADMIN_URL).set(database=DB_NAME).update_query_dict({"charset": "utf8mb4"})
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        khanza_seed.create_schema(conn)
    engine.dispose()
    yield DB_NAME
    khanza_seed.drop_database(admin_engine, DB_NAME)


@pytest.fixture
def seed_engine(khanza_db: str) -> Iterator[sa.Engine]:
    """A root engine on the test database (utf8mb4 connection), emptied and re-seeded with master data."""
    url = sa.make_url(ADMIN_URL).set(database=khanza_db).update_query_dict({"charset": "utf8mb4"})
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        khanza_seed.truncate_all(conn)
        khanza_seed.seed_reference(conn)
    yield engine
    engine.dispose()


@pytest.fixture
def khanza_dsn(khanza_db: str) -> str:
    """DSN the reader uses in tests (root; the read-only user has its own test)."""
    return sa.make_url(ADMIN_URL).set(database=khanza_db).render_as_string(hide_password=False)
