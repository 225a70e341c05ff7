"""The one error every sink raises, so the outbox can decide between "retry later" and "give up"."""

from __future__ import annotations


class SinkError(Exception):
    """A delivery report could not be written.

    ``retryable`` is the outbox's decision: ``True`` for 5xx, 408, 429, timeouts and connection errors (try again
    on the backoff schedule), ``False`` for other 4xx (the request itself is wrong; retrying cannot help).
    ``retry_after`` is the server's ``Retry-After`` in seconds when it sent one. Messages never contain secrets.
    """

    def __init__(
        self,
        messages: list[str],
        status_code: int | None,
        retryable: bool,
        retry_after: float | None = None,
    ) -> None:
        self.messages = messages
        self.status_code = status_code
        self.retryable = retryable
        self.retry_after = retry_after
        status = f"HTTP {status_code}" if status_code is not None else "no response"
        kind = "retryable" if retryable else "permanent"
        super().__init__(f"{status} ({kind}): {'; '.join(messages) or 'no details'}")


def is_retryable_status(status_code: int) -> bool:
    """5xx, 408 Request Timeout and 429 Too Many Requests are transient; every other status is not."""
    return status_code >= 500 or status_code in (408, 429)


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in delta-seconds form; the HTTP-date form is ignored (the schedule applies instead)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
