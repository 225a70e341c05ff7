"""Log lines carry the order they are about: bound by the outbox consumer for a task, by the app for a route
with an order id, and rendered as JSON lines when ``GANCANG_LOG_JSON`` is set."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import respx
import structlog
from observability_support import (
    BOOKING_PATH,
    GOSEND_BASE_URL,
    LOOKUP_PATH,
    PRICE_PATH,
    booking_created,
    only_row,
    price_estimate,
    run_outbox,
)

from dispatch.core.logging import log_context, log_formatter


@contextmanager
def json_lines(logger: logging.Logger) -> Iterator[list[dict[str, object]]]:
    """The lines ``logger`` (and its children) write through the production JSON formatter, parsed."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(log_formatter(json=True))
    logger.addHandler(handler)
    lines: list[dict[str, object]] = []
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        lines.extend(json.loads(line) for line in stream.getvalue().splitlines())


def test_every_line_of_a_booking_task_carries_the_order(client, make_order, gosend_account):
    order_id = make_order()
    book_id = only_row("dispatch.book", order_id)
    gosend = respx.mock(base_url=GOSEND_BASE_URL, assert_all_called=False)
    gosend.get(PRICE_PATH).mock(return_value=price_estimate())
    gosend.post(BOOKING_PATH).mock(side_effect=[httpx.Response(503, text="busy"), booking_created()])
    gosend.get(path__startswith=LOOKUP_PATH).mock(return_value=httpx.Response(404, json={}))
    with json_lines(logging.getLogger()) as lines, gosend:
        run_outbox(book_id)

    # Celery's own lines about the task (received, retry, succeeded) are written outside the handler; they
    # name the Celery task id, which the ``outbox.*`` lines do not need to repeat.
    lines = [line for line in lines if not str(line["logger"]).startswith("celery")]
    events = [str(line["event"]) for line in lines]
    assert "outbox.retry" in events  # our own line about the 503
    assert any(
        "answered HTTP 503" in event for event in events
    )  # the GoSend client's, through stdlib logging
    assert any(event.startswith("HTTP Request: POST") for event in events)  # httpx's
    for line in lines:
        assert (line.get("order_id"), line.get("outbox_id"), line.get("task")) == (
            order_id,
            book_id,
            "dispatch.book",
        ), line
        assert isinstance(line["hospital_id"], int)
        assert {"level", "timestamp", "logger"} <= line.keys()
    assert structlog.contextvars.get_contextvars() == {}  # nothing left for the worker's next task


def test_a_route_with_an_order_id_logs_it(client, make_order, pharmacist_token, monkeypatch):
    from dispatch.orders import api

    order_id = make_order(release=False)
    bound: list[dict[str, object]] = []
    release = api.service.release

    def spy(*args, **kwargs):
        bound.append(structlog.contextvars.get_contextvars())
        return release(*args, **kwargs)

    monkeypatch.setattr(api.service, "release", spy)
    response = client.post(
        f"/api/v1/orders/{order_id}/release", headers={"Authorization": f"Bearer {pharmacist_token}"}
    )

    assert response.status_code == 200, response.text
    assert bound == [{"order_id": order_id}]


def test_log_context_leaves_out_unknowns_and_restores_what_was_bound():
    logger = logging.getLogger("gancang.test")
    logger.setLevel(logging.INFO)
    with json_lines(logger) as lines, log_context(task="outer"):
        with log_context(order_id=7, hospital_id=None):
            structlog.contextvars.bind_contextvars(attempt_id=3)  # found later, inside the block
            logger.info("inside")
        logger.info("after")
    inside, after = lines

    assert (inside["task"], inside["order_id"], inside["attempt_id"]) == ("outer", 7, 3)
    assert "hospital_id" not in inside
    assert after["task"] == "outer"
    assert "order_id" not in after and "attempt_id" not in after
    assert structlog.contextvars.get_contextvars() == {}
