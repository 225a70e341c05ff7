"""Each booking carries the latest estimate of when the parcel reaches the patient's door.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("booking_attempts", sa.Column("eta_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("booking_attempts", "eta_at")
