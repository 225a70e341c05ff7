"""Test configuration: the production shape — PostgreSQL, Redis, real worker, sandbox over real HTTP.

The environment is set before anything from `dispatch` is imported, because settings are read once.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

if TYPE_CHECKING:
    from celery import Celery

    from dispatch.hospitals.models import Hospital

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/gancang_test")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
TEST_DATA_DIR = Path(tempfile.mkdtemp(prefix="gancang-test-"))

os.environ.update(
    {
        "DATABASE_URL": TEST_DATABASE_URL,
        "REDIS_URL": TEST_REDIS_URL,
        "GANCANG_ENV": "test",
        "GANCANG_SECRET_KEY": "test-secret-key-not-for-production-0123456789",
        "GANCANG_DATA_DIR": str(TEST_DATA_DIR),
        "GANCANG_RELAY_INTERVAL_SECONDS": "0.3",
    }
)

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
EXAMPLES = SHARED / "reference" / "examples"


def _recreate_database() -> None:
    import psycopg
    from psycopg import sql

    from dispatch.core.settings import settings

    url = settings.sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://")
    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as connection:
        connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


@pytest.fixture(autouse=True)
def _clean_log_context() -> Iterator[None]:
    """In-process ASGI calls can leave a request's bound log fields (order_id) in the test thread's context;
    every test starts, and leaves, with none."""
    import structlog

    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()


@pytest.fixture(scope="session")
def database() -> Iterator[None]:
    """A fresh database migrated by Alembic (not create_all), so the migrations are tested too."""
    import redis

    from dispatch.core.migrate import upgrade_database

    _recreate_database()
    upgrade_database()
    redis.Redis.from_url(TEST_REDIS_URL).flushdb()
    yield
    from dispatch.core.db import get_engine

    get_engine().dispose()


@pytest.fixture
def db(database: None) -> Iterator[None]:
    """Tests that touch the database ask for this; it empties every table afterwards."""
    yield
    from sqlalchemy import text
    from sqlmodel import SQLModel

    import dispatch.models  # noqa: F401
    from dispatch.core.db import get_engine

    names = ", ".join(table.name for table in SQLModel.metadata.sorted_tables)
    with get_engine().begin() as connection:
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    # The broker's queues go with the outbox they came from: the ids restart, and a task published here
    # but never run would otherwise reach the next test's worker naming that test's rows. Rate-limit
    # counters live there too: one test's logins and page loads must not throttle the next.
    import redis

    from dispatch.core import ratelimit

    redis.Redis.from_url(TEST_REDIS_URL).flushdb()
    ratelimit.reset()


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Passwords are verified for real, with light argon2 parameters: ~0.3 s saved per logged-in test."""
    from argon2 import PasswordHasher

    from dispatch.core import security

    monkeypatch.setattr(security, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def celery() -> Celery:
    """The app with every task module registered, as a worker imports them through ``include``."""
    import importlib

    from dispatch.core.celery_app import TASK_MODULES, celery_app

    for module in TASK_MODULES:
        importlib.import_module(module)
    return celery_app


@pytest.fixture
def session(db: None) -> Iterator[Session]:
    from dispatch.core.db import new_session

    with new_session() as db_session:
        yield db_session


@pytest.fixture
def client(db: None) -> Iterator[TestClient]:
    from dispatch.app import create_app

    with TestClient(create_app()) as test_client:
        yield test_client


@pytest.fixture
def hospital(session: Session) -> Hospital:
    from dispatch.demo_data import HOSPITAL
    from dispatch.hospitals.service import create_hospital

    record = create_hospital(session, HOSPITAL)
    session.commit()
    return record


@pytest.fixture
def api_key(session: Session, hospital: Hospital) -> str:
    from dispatch.hospitals.service import create_api_key

    _record, plaintext = create_api_key(session, hospital, "test-simrs")
    session.commit()
    return plaintext


def make_staff(session: Session, hospital: Hospital, username: str, role: str) -> str:
    """Creates a staff user and returns a bearer token for them."""
    from dispatch.auth.models import Role, StaffUserCreate
    from dispatch.auth.service import create_user, login

    password = f"{username}-password-123"
    create_user(
        session,
        hospital,
        StaffUserCreate(username=username, full_name=username, role=Role(role), password=password),
    )
    _user, token = login(session, username, password)
    session.commit()
    return token


@pytest.fixture
def staff_maker() -> Callable[[Session, Hospital, str, str], str]:
    """For conftests and tests in sub-folders, which cannot import this module's functions."""
    return make_staff


@pytest.fixture
def pharmacist_token(session: Session, hospital: Hospital) -> str:
    return make_staff(session, hospital, "apoteker1", "pharmacist")


@pytest.fixture
def viewer_token(session: Session, hospital: Hospital) -> str:
    return make_staff(session, hospital, "viewer1", "viewer")
