"""Alembic environment: the URL comes from Gancang's settings, the metadata from every model."""

from typing import Any, Literal

from alembic import context
from sqlmodel import SQLModel

import dispatch.models  # noqa: F401  (registers every table)
from dispatch.core.db import UTCDateTime, get_engine


def render_item(type_: str, obj: Any, _autogen_context: Any) -> str | Literal[False]:
    """Migrations store UTCDateTime as a plain timezone-aware DateTime; the decorator is runtime only."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations() -> None:
    with get_engine().connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=SQLModel.metadata,
            compare_type=True,
            render_item=render_item,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
