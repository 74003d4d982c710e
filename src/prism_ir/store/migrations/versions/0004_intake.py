"""ingest: the intake journal (requests accepted under load, applied shortly after)

Revision ID: 0004
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import prism_ir.store.types

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None

_BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str) -> sa.Column:
    return sa.Column(name, prism_ir.store.types.UTCDateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "alert_intake",
        sa.Column("id", _BIGID, autoincrement=True, nullable=False),
        sa.Column("service_id", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("alerts", sa.Integer(), nullable=False),
        _ts("received_at"),
        _ts("lease_until"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("alert_intake", schema=None) as batch_op:
        batch_op.create_index("ix_alert_intake_lease", ["lease_until"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alert_intake", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_intake_lease")
    op.drop_table("alert_intake")
