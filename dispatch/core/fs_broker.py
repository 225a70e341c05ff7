"""The embedded broker: kombu's filesystem transport, with each message written whole before it is seen.

Kombu's own ``_put`` creates the message file under its final name and then writes it, so a worker polling the
folder can take the file while it is still empty and stop on a JSON error (celery/kombu#1551). Here a message
is written under a name the reader skips (it takes only ``*.<queue>.msg``) and renamed into place, which is
atomic on one filesystem.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

PARTIAL_SUFFIX = ".part"


class AtomicChannel(filesystem.Channel):
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]  # kombu adds **kwargs
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = final + PARTIAL_SUFFIX
        try:
            with open(partial, "wb") as message_file:
                message_file.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise filesystem.ChannelError(f"Cannot add file {final!r} to directory") from exc


class AtomicTransport(filesystem.Transport):
    Channel = AtomicChannel
