"""Geocoding policy per hospital, who confirmed a patient's pin, the courier's road distance per attempt, and
the cache of online geocoder answers.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("hospitals") as batch:
        batch.add_column(sa.Column("geocoding_policy", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("patients") as batch:
        batch.add_column(sa.Column("confirmed_by", sa.String(length=16), nullable=True))
    with op.batch_alter_table("booking_attempts") as batch:
        batch.add_column(sa.Column("quoted_distance_km", sa.Float(), nullable=True))
    op.create_table(
        "geocode_cache",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("query_key", sa.String(length=64), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider", "query_key"),
    )


def downgrade() -> None:
    op.drop_table("geocode_cache")
    with op.batch_alter_table("booking_attempts") as batch:
        batch.drop_column("quoted_distance_km")
    with op.batch_alter_table("patients") as batch:
        batch.drop_column("confirmed_by")
    with op.batch_alter_table("hospitals") as batch:
        batch.drop_column("geocoding_policy")
