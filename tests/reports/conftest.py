"""Report fixtures: the seeded orders of ``reports_seed`` in PostgreSQL (the test database) and in SQLite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from reports_seed import Seeded, seed_orders
from sqlalchemy import event
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, create_engine

from dispatch.demo_data import HOSPITAL
from dispatch.hospitals.models import Hospital


@pytest.fixture
def seeded_postgres(session: Session, hospital: Hospital) -> Seeded:
    other = seed_orders(session, hospital)
    assert hospital.id is not None and other.id is not None
    return Seeded(session, hospital.id, other.id)


@pytest.fixture
def seeded_sqlite() -> Iterator[Seeded]:
    """The embedded database's dialect: an in-memory SQLite with the same tables."""
    import dispatch.models  # noqa: F401

    engine = create_engine("sqlite://", poolclass=StaticPool)
    event.listen(engine, "connect", lambda connection, _record: connection.execute("PRAGMA foreign_keys=ON"))
    SQLModel.metadata.create_all(engine)
    with Session(engine, expire_on_commit=False) as session:
        hospital = Hospital.model_validate(HOSPITAL)
        session.add(hospital)
        session.flush()
        other = seed_orders(session, hospital)
        assert hospital.id is not None and other.id is not None
        yield Seeded(session, hospital.id, other.id)
    engine.dispose()


@pytest.fixture(params=["postgres", "sqlite"])
def seeded(request: pytest.FixtureRequest) -> Seeded:
    """The same figures must come out of both databases."""
    return request.getfixturevalue(f"seeded_{request.param}")
