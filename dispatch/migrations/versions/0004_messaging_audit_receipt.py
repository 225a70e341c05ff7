"""Messaging: channel, attempts and delivery reports per message, opt-outs, per-hospital messaging settings;
the staff audit log; the patient's "medicine received" confirmation.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("hospitals") as batch:
        batch.add_column(sa.Column("messaging_settings", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("receipt_confirmed_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("sms_messages") as batch:
        batch.add_column(sa.Column("channel", sa.String(length=16), nullable=False, server_default="sms"))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("receipt_status", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_sms_messages_provider_message_id", ["provider_message_id"])
    op.create_table(
        "message_opt_outs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hospital_id", sa.Integer(), nullable=False),
        sa.Column("phone_e164", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["hospital_id"], ["hospitals.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("hospital_id", "phone_e164", "channel"),
    )
    op.create_index("ix_message_opt_outs_hospital_id", "message_opt_outs", ["hospital_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hospital_id", sa.Integer(), nullable=False),
        sa.Column("staff_user_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["hospital_id"], ["hospitals.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["staff_user_id"], ["staff_users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_log_hospital_id", "audit_log", ["hospital_id"])
    op.create_index("ix_audit_log_staff_user_id", "audit_log", ["staff_user_id"])
    op.create_index("ix_audit_log_at", "audit_log", ["at"])


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("message_opt_outs")
    with op.batch_alter_table("sms_messages") as batch:
        batch.drop_index("ix_sms_messages_provider_message_id")
        batch.drop_column("delivered_at")
        batch.drop_column("receipt_status")
        batch.drop_column("attempts")
        batch.drop_column("channel")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("receipt_confirmed_at")
    with op.batch_alter_table("hospitals") as batch:
        batch.drop_column("messaging_settings")
