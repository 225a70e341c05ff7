"""One ASGI app serving every dialect under its own prefix, plus the ``/_sandbox`` admin API.

It exists so the dispatcher can be demonstrated and tested end to end without courier partner accounts:
GoSend at ``/gokilat/v10`` (its real paths), GrabExpress at ``/grabexpress``, Lalamove at ``/lalamove`` and
the local partner protocol at ``/partner``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response

from couriers.sandbox.config import Fault, Rule, SandboxConfig
from couriers.sandbox.engine import ApiError, Dialect, Engine, admin_view
from couriers.sandbox.gosend import GoSend
from couriers.sandbox.grabexpress import GrabExpress
from couriers.sandbox.lalamove import Lalamove
from couriers.sandbox.partner import Partner


def create_app(config: SandboxConfig) -> FastAPI:
    """Build one independent sandbox; its state lives and dies with the returned app."""
    engine = Engine(config)
    dialects: tuple[Dialect, ...] = (GoSend(engine), GrabExpress(engine), Lalamove(engine), Partner(engine))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.stop()

    app = FastAPI(title="Courier sandbox", lifespan=lifespan)
    app.state.engine = engine
    for dialect in dialects:
        app.include_router(dialect.router)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        path = request.url.path
        return next(d for d in dialects if path.startswith(d.router.prefix)).render_error(exc)

    app.include_router(_admin(engine))
    return app


def _admin(engine: Engine) -> APIRouter:
    admin = APIRouter(prefix="/_sandbox")

    @admin.post("/rules", status_code=201)
    async def add_rule(rule: Rule) -> dict[str, Any]:
        engine.rules.append(rule)
        return rule.model_dump(exclude_none=True)

    @admin.delete("/rules", status_code=204)
    async def clear_rules() -> Response:
        engine.rules.clear()
        return Response(status_code=204)

    @admin.post("/faults", status_code=201)
    async def add_fault(fault: Fault) -> dict[str, Any]:
        engine.add_fault(fault)
        return fault.model_dump()

    @admin.get("/faults")
    async def list_faults() -> dict[str, Any]:
        return {"faults": [fault.model_dump() | {"remaining": left[0]} for fault, left in engine.faults]}

    @admin.delete("/faults", status_code=204)
    async def clear_faults() -> Response:
        engine.faults.clear()
        return Response(status_code=204)

    @admin.get("/bookings")
    async def list_bookings() -> dict[str, Any]:
        return {"bookings": [admin_view(engine, journey) for journey in engine.journeys]}

    return admin
