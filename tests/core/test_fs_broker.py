"""The embedded broker never hands a worker a message that is still being written (celery/kombu#1551)."""

from __future__ import annotations

import threading
from pathlib import Path
from queue import Empty

from kombu import Connection

from dispatch.core.fs_broker import PARTIAL_SUFFIX


def connect(folder: Path) -> Connection:
    options = {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "control_folder": str(folder / "control"),
        "store_processed": False,
    }
    return Connection(
        "filesystem://", transport="dispatch.core.fs_broker:AtomicTransport", transport_options=options
    )


def test_a_message_being_written_is_not_taken(tmp_path: Path) -> None:
    (tmp_path / f"1_half-written.jobs.msg{PARTIAL_SUFFIX}").write_bytes(b'{"body": ')
    with connect(tmp_path) as connection:
        queue = connection.SimpleQueue("jobs")
        try:
            queue.get(block=False)
            raise AssertionError("a partial message was delivered")
        except Empty:
            pass
        queue.put({"order_id": 7})
        message = queue.get(timeout=2)
        assert message.payload == {"order_id": 7}
        message.ack()
        queue.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "1_half-written.jobs.msg" + PARTIAL_SUFFIX,
        "control",
    ]


def test_a_busy_producer_and_consumer_lose_and_break_nothing(tmp_path: Path) -> None:
    """Its own queue name: kombu keeps declared bindings per process, so reusing "jobs" in a fresh folder would
    skip writing this folder's exchange table."""
    count = 300
    received = []
    with connect(tmp_path) as connection:
        # Declared before the producer starts: kombu's own exchange-table file is not written atomically either,
        # and two first declarations at once is a race of kombu's that this test is not about.
        queue = connection.SimpleQueue("busy")

        def produce() -> None:
            with connect(tmp_path) as producer_connection:
                producer_queue = producer_connection.SimpleQueue("busy")
                for number in range(count):
                    producer_queue.put({"n": number})
                producer_queue.close()

        producer = threading.Thread(target=produce)
        producer.start()
        while len(received) < count:
            message = queue.get(timeout=10)
            received.append(message.payload["n"])
            message.ack()
        queue.close()
        producer.join()
    assert sorted(received) == list(range(count))
