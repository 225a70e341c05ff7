"""An index for the reports, which read a hospital's orders by month of release.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_orders_hospital_id_released_at", "orders", ["hospital_id", "released_at"])


def downgrade() -> None:
    op.drop_index("ix_orders_hospital_id_released_at", table_name="orders")
