"""One Khanza poll of N prescriptions (default 10,000) from MariaDB into PostgreSQL: prescriptions per second.

Run: .venv/bin/python bench/khanza_poll_bench.py [--prescriptions 10000]
Needs MariaDB on 127.0.0.1:3306 (root, no password) and PostgreSQL; uses the test seed helpers.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from _support import fresh_database, seed_hospital

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "khanza"))
import khanza_seed

MARIADB = "mysql+pymysql://root@127.0.0.1:3306/"
KHANZA_DB = "gancang_khanza_bench"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prescriptions", type=int, default=10_000)
    args = parser.parse_args()

    fresh_database()
    hospital_id, _key = seed_hospital()
    admin = sa.create_engine(MARIADB)
    khanza_seed.drop_database(admin, KHANZA_DB)
    khanza_seed.create_database(admin, KHANZA_DB)
    dsn = f"{MARIADB}{KHANZA_DB}"
    seed = sa.create_engine(f"{dsn}?charset=utf8mb4")
    with seed.begin() as conn:
        khanza_seed.create_schema(conn)
        khanza_seed.seed_reference(conn)
        khanza_seed.generate_prescriptions(conn, args.prescriptions, start=datetime(2026, 11, 1, 7, 0))

    from dispatch.core.db import new_session
    from dispatch.hospitals.models import Hospital, HospitalSource
    from dispatch.sources.tasks import poll_source

    with new_session() as session:
        hospital = session.get(Hospital, hospital_id)
        assert hospital is not None
        hospital.eligibility_policy = {"accept_all": True}
        source = HospitalSource(
            hospital_id=hospital_id, source="khanza", settings={"dsn": dsn, "start_date": "2026-11-01"}
        )
        session.add(source)
        session.commit()
        source_id = source.id

    started = time.perf_counter()
    taken = poll_source.apply(args=[source_id]).result
    elapsed = time.perf_counter() - started
    khanza_seed.drop_database(admin, KHANZA_DB)
    print(
        f"One Khanza poll: {taken} of {args.prescriptions} prescriptions in {elapsed:.1f} s = {taken / elapsed:.0f} per second"
    )


if __name__ == "__main__":
    main()
