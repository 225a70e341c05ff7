"""Structured logs: JSON in production, readable in a terminal; secrets never passed in.

structlog's own lines and the standard library's (couriers' HTTP clients, httpx, Celery) go through one
handler and one formatter, so both carry the context bound while an order is handled (``order_id``,
``hospital_id``, ``outbox_id``, ``task``): a grep for one order id finds every line about it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import structlog
from starlette.requests import Request

from dispatch.core.settings import settings

_SHARED: list[structlog.types.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]
_HANDLER_NAME = "gancang"


def log_formatter(*, json: bool) -> structlog.stdlib.ProcessorFormatter:
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )


def configure_logging() -> None:
    """Idempotent: the API calls it at start-up and every worker process at fork."""
    level = logging.getLevelName(settings.log_level)
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(log_formatter(json=settings.log_json))
    root = logging.getLogger()
    for existing in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)


def bind_log_context(**fields: object) -> None:
    """Adds the known fields (None ones are left out) to every later log line of this task or request."""
    structlog.contextvars.bind_contextvars(
        **{name: value for name, value in fields.items() if value is not None}
    )


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """``bind_log_context`` for the block, including what code inside binds later (an order id found on the
    way); on leaving, the context is exactly as before, so a worker's next task starts clean."""
    saved = structlog.contextvars.get_contextvars()
    bind_log_context(**fields)
    try:
        yield
    finally:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(**saved)


async def request_log_context(request: Request) -> AsyncIterator[None]:
    """An app-wide dependency: a route with an ``{order_id}`` in its path logs that id on every line.

    Async on purpose: a sync dependency runs in a worker thread whose context the endpoint does not see.
    """
    order_id = str(request.path_params.get("order_id", ""))
    with log_context(order_id=int(order_id) if order_id.isdigit() else None):
        yield


log = structlog.get_logger("gancang")
