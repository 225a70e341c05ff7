"""The baseline of ``webhook_bench.py``: a FastAPI endpoint that only stores the request body as one row.

Same route shape, same engine and pool (``dispatch.core.db``), same thread-pool hop as the real courier
webhook endpoint, so the ratio between the two is what verifying, archiving raw, de-duplicating and queueing
the state change cost on top of the cheapest durable write of a webhook.
"""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from dispatch.core.db import new_session

BARE_TABLE = sa.Table(
    "bench_bare_events",
    sa.MetaData(),
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

app = FastAPI()


def _insert(source: str, body: bytes) -> None:
    with new_session() as session:
        session.execute(sa.insert(BARE_TABLE).values(source=source, body=body))
        session.commit()


@app.post("/webhooks/couriers/{courier}")
async def receive(courier: str, request: Request) -> JSONResponse:
    body = await request.body()
    await run_in_threadpool(_insert, f"courier:{courier}", body)
    return JSONResponse({"message": "ok"})
