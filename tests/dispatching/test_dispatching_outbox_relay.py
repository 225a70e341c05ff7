"""The outbox relay: publish new rows, re-publish rows a broker may have lost, never processed ones, and stop."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from dispatching_support import load, set_outbox
from sqlmodel import Session

from dispatch.core.clock import utcnow
from dispatch.core.settings import settings
from dispatch.outbox.models import OutboxMessage
from dispatch.outbox.repository import MAX_PUBLISH_COUNT
from dispatch.outbox.service import enqueue
from dispatch.outbox.tasks import RELAY_BATCH, relay, relay_once


class SentTasks(list):
    """What the relay handed to Celery: (task name, args) in order."""

    def send_task(self, name: str, args: Any = None, **_options: Any) -> None:
        self.append((name, list(args or [])))


@pytest.fixture
def sent(celery, monkeypatch) -> SentTasks:
    """Swap ``celery_app.send_task`` for a recorder; monkeypatch puts the real one back afterwards."""
    recorder = SentTasks()
    monkeypatch.setattr(celery, "send_task", recorder.send_task)
    return recorder


@pytest.fixture
def relay_only(monkeypatch) -> None:
    """Rows left for the relay, as when publishing at commit is switched off."""
    monkeypatch.setattr(settings, "outbox_publish_on_commit", False)


def add_rows(session: Session, *topics: str) -> list[int]:
    rows = [enqueue(session, topic, {"n": n}, hospital_id=None) for n, topic in enumerate(topics)]
    session.commit()
    ids = [row.id for row in rows]
    assert all(ids)
    return ids  # type: ignore[return-value]


def long_ago() -> Any:
    return utcnow() - timedelta(seconds=settings.relay_redeliver_after_seconds + 30)


def test_unpublished_rows_are_published_in_order_and_marked(db, relay_only, session, sent):
    first, second = add_rows(session, "dispatch.book", "notify.sms")
    before = utcnow()

    assert relay_once() == 2

    assert sent == [("dispatch.book", [first]), ("notify.sms", [second])]
    for row_id in (first, second):
        row = load(OutboxMessage, row_id)
        assert row.publish_count == 1
        assert row.published_at is not None and row.published_at >= before
        assert row.processed_at is None


def test_recently_published_rows_are_not_published_again(db, relay_only, session, sent):
    add_rows(session, "dispatch.book")
    relay_once()
    sent.clear()

    assert relay_once() == 0
    assert sent == []


def test_rows_published_long_ago_but_never_processed_are_published_again(db, relay_only, session, sent):
    [row_id] = add_rows(session, "dispatch.book")
    relay_once()
    set_outbox(row_id, published_at=long_ago())
    sent.clear()

    assert relay_once() == 1

    assert sent == [("dispatch.book", [row_id])]
    row = load(OutboxMessage, row_id)
    assert row.publish_count == 2
    assert row.published_at > long_ago()


def test_processed_rows_are_never_published_again(db, relay_only, session, sent):
    done, fresh_done = add_rows(session, "dispatch.book", "notify.sms")
    set_outbox(done, published_at=long_ago(), publish_count=1, processed_at=utcnow())
    set_outbox(fresh_done, processed_at=utcnow())  # processed before the relay ever saw it

    assert relay_once() == 0
    assert sent == []
    assert load(OutboxMessage, fresh_done).publish_count == 0


def test_publishing_stops_after_the_maximum_count(db, relay_only, session, sent):
    [row_id] = add_rows(session, "dispatch.book")
    for publication in range(1, MAX_PUBLISH_COUNT + 2):
        set_outbox(row_id, published_at=long_ago() if publication > 1 else None)
        relay_once()
    assert sent == [("dispatch.book", [row_id])] * MAX_PUBLISH_COUNT
    row = load(OutboxMessage, row_id)
    assert row.publish_count == MAX_PUBLISH_COUNT
    assert row.processed_at is None  # left for a person to look at


def test_a_row_one_short_of_the_maximum_gets_its_last_publication(db, relay_only, session, sent):
    [row_id] = add_rows(session, "notify.sms")
    set_outbox(row_id, published_at=long_ago(), publish_count=MAX_PUBLISH_COUNT - 1)

    assert relay_once() == 1
    assert load(OutboxMessage, row_id).publish_count == MAX_PUBLISH_COUNT
    set_outbox(row_id, published_at=long_ago())
    assert relay_once() == 0


def test_relay_task_drains_more_than_one_batch(db, relay_only, session, sent):
    ids = add_rows(session, *(["notify.sms"] * (RELAY_BATCH + 7)))

    relay()

    assert [args[0] for _name, args in sent] == ids
    assert relay_once() == 0


def test_a_broker_failure_mid_batch_loses_nothing(db, relay_only, session, celery, monkeypatch):
    ids = add_rows(session, "dispatch.book", "notify.sms", "notify.sms")
    published: list[int] = []

    def flaky_send(name: str, args: Any = None, **_options: Any) -> None:
        if len(published) == 1:
            raise ConnectionError("broker restarting")
        published.append(args[0])

    monkeypatch.setattr(celery, "send_task", flaky_send)
    with pytest.raises(ConnectionError):
        relay_once()
    # Nothing was committed: every row is still due, including the one already handed over (a duplicate at
    # worst, which the idempotent tasks absorb), never a loss.
    assert [load(OutboxMessage, row_id).published_at for row_id in ids] == [None, None, None]

    monkeypatch.setattr(celery, "send_task", lambda name, args=None, **options: published.append(args[0]))
    assert relay_once() == 3
    assert published == [ids[0], *ids]


def test_bookings_are_published_when_their_transaction_commits_and_the_rest_by_the_relay(db, session, sent):
    book, sms = add_rows(session, "dispatch.book", "notify.sms")

    assert sent == [("dispatch.book", [book])]
    assert [load(OutboxMessage, row_id).publish_count for row_id in (book, sms)] == [1, 0]
    assert relay_once() == 1
    assert sent == [("dispatch.book", [book]), ("notify.sms", [sms])]
    set_outbox(book, published_at=long_ago())  # never processed: the broker may have lost it
    assert relay_once() == 1


def test_rows_of_a_rolled_back_transaction_are_never_published(db, session, sent):
    enqueue(session, "dispatch.book", {"n": 1}, hospital_id=None)
    session.flush()
    session.rollback()
    [cancel] = add_rows(session, "dispatch.cancel_booking")

    assert sent == [("dispatch.cancel_booking", [cancel])]


def test_rows_the_broker_refuses_at_commit_go_to_the_relays_next_tick(db, session, celery, monkeypatch):
    def broker_down(name: str, args: Any = None, **_options: Any) -> None:
        raise ConnectionError("broker restarting")

    monkeypatch.setattr(celery, "send_task", broker_down)
    [row_id] = add_rows(session, "dispatch.book")  # the commit itself succeeds
    row = load(OutboxMessage, row_id)
    assert (row.published_at, row.publish_count) == (None, 0)

    recorder = SentTasks()
    monkeypatch.setattr(celery, "send_task", recorder.send_task)
    assert relay_once() == 1
    assert recorder == [("dispatch.book", [row_id])]
