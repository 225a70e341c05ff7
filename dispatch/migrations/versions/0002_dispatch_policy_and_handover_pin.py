"""Dispatch policy per hospital, staff's courier override and handover PIN per order, quoted price per attempt.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("hospitals") as batch:
        batch.add_column(sa.Column("dispatch_policy", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("courier_override_account_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("handover_pin", sa.String(length=8), nullable=True))
        batch.create_foreign_key(
            "fk_orders_courier_override_account_id_courier_accounts",
            "courier_accounts",
            ["courier_override_account_id"],
            ["id"],
        )
    with op.batch_alter_table("booking_attempts") as batch:
        batch.add_column(sa.Column("quoted_price_idr", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("booking_attempts") as batch:
        batch.drop_column("quoted_price_idr")
    with op.batch_alter_table("orders") as batch:
        batch.drop_constraint("fk_orders_courier_override_account_id_courier_accounts", type_="foreignkey")
        batch.drop_column("handover_pin")
        batch.drop_column("courier_override_account_id")
    with op.batch_alter_table("hospitals") as batch:
        batch.drop_column("dispatch_policy")
