"""Shared set-up for the benchmarks: a fresh PostgreSQL database, migrated, with one seeded hospital."""

from __future__ import annotations

import os
import subprocess
import sys

BENCH_DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/gancang_bench"
)


def fresh_database() -> None:
    """Point this process (and its children) at an empty, migrated bench database."""
    import psycopg
    from psycopg import sql

    base, _, name = BENCH_DATABASE_URL.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    os.environ["DATABASE_URL"] = BENCH_DATABASE_URL
    os.environ.setdefault("GANCANG_SECRET_KEY", "bench-secret-key-0123456789abcdef")
    os.environ.setdefault("GANCANG_ENV", "test")
    subprocess.run([sys.executable, "-m", "dispatch", "db", "upgrade"], check=True, capture_output=True)


def seed_hospital() -> tuple[int, str]:
    """Returns the hospital id and a plaintext API key."""
    from dispatch.core.db import new_session
    from dispatch.demo_data import HOSPITAL
    from dispatch.hospitals.service import create_api_key, create_hospital

    with new_session() as session:
        hospital = create_hospital(session, HOSPITAL)
        _key, api_key = create_api_key(session, hospital, "bench")
        session.commit()
        assert hospital.id is not None
        return hospital.id, api_key
