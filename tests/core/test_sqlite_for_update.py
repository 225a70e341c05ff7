"""On the embedded SQLite database a read FOR UPDATE must hold off a second one until the first commits,
as a row lock does on PostgreSQL: two workers applying two courier reports to one order must not both act
on the state they read (that sent a patient two "picked up" SMS)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, select

import dispatch.models  # noqa: F401  (every table on the metadata)
from dispatch.core.db import _sqlite_pragmas
from dispatch.hospitals.models import Hospital


def test_a_second_read_for_update_waits_for_the_first_to_commit(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'lock.db'}", connect_args={"check_same_thread": False})
    sa.event.listen(engine, "connect", _sqlite_pragmas)
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(Hospital(code="RSUDX", name="RSUD", phone="0333", address="Jl. A", lat=-8.2, lon=114.3))
        session.commit()
    seen: dict[str, str] = {}

    def act(name: str, hold_seconds: float) -> None:
        with Session(engine) as session:
            hospital = session.exec(select(Hospital).with_for_update()).one()
            seen[name] = hospital.name
            time.sleep(hold_seconds)
            hospital.name = f"{hospital.name}+{name}"
            session.commit()

    first = threading.Thread(target=act, args=("first", 0.4))
    first.start()
    time.sleep(0.1)
    act("second", 0)
    first.join()

    assert seen == {"first": "RSUD", "second": "RSUD+first"}
    with Session(engine) as session:
        assert session.exec(select(Hospital.name)).one() == "RSUD+first+second"
