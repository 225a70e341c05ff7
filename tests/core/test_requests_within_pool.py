"""Requests beyond what the connection pool can serve wait on the event loop instead of deadlocking it."""

from __future__ import annotations

import asyncio

import httpx
from starlette.types import Receive, Scope, Send

from dispatch.core.db import POOL_OVERFLOW, POOL_SIZE, REQUESTS_IN_FLIGHT, RequestsWithinPool


class SlowEndpoint:
    """Holds each request a moment and records how many were inside at once."""

    def __init__(self) -> None:
        self.inside = 0
        self.most_inside = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.inside += 1
        self.most_inside = max(self.most_inside, self.inside)
        await asyncio.sleep(0.01)
        self.inside -= 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def test_the_limit_leaves_connections_to_spare() -> None:
    assert 0 < REQUESTS_IN_FLIGHT < POOL_SIZE + POOL_OVERFLOW


def test_no_more_requests_than_the_limit_are_inside_and_every_one_is_answered() -> None:
    endpoint = SlowEndpoint()
    app = RequestsWithinPool(endpoint, limit=5)

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            responses = await asyncio.gather(*(client.get("/") for _ in range(60)))
        return [response.status_code for response in responses]

    assert asyncio.run(burst()) == [200] * 60
    assert endpoint.most_inside == 5
