"""ingest: alerts (dedup, grouping, thresholds, silences)

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import prism_ir.store.types

revision = "0002"
down_revision = "0001"
branch_labels = ("ingest",)
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")
_BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_OPEN = sa.text("resolved_at IS NULL")


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, prism_ir.store.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", _BIGID, autoincrement=True, nullable=False),
        sa.Column("service_id", sa.String(length=100), nullable=False),
        sa.Column("fingerprint", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("group_key", sa.String(length=600), nullable=False),
        sa.Column("summary", sa.String(length=1024), nullable=False),
        sa.Column("severity", sa.String(length=2), nullable=False),
        sa.Column("severity_raw", sa.String(length=64), nullable=True),
        sa.Column("labels", _JSON, nullable=False),
        sa.Column("annotations", _JSON, nullable=False),
        sa.Column("details", _JSON, nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("hold_count", sa.Integer(), nullable=False),
        _ts("window_start", True),
        sa.Column("silenced_by", sa.String(length=100), nullable=True),
        _ts("first_seen"),
        _ts("last_seen"),
        _ts("starts_at", True),
        _ts("ends_at", True),
        _ts("resolved_at", True),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index("ix_alerts_incident", ["incident_id"], unique=False)
        batch_op.create_index("ix_alerts_open_group", ["group_key", "service_id"], unique=False,
                              postgresql_where=_OPEN, sqlite_where=_OPEN)
        batch_op.create_index("ux_alerts_open_fingerprint", ["fingerprint", "service_id"], unique=True,
                              postgresql_where=_OPEN, sqlite_where=_OPEN)


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ux_alerts_open_fingerprint")
        batch_op.drop_index("ix_alerts_open_group")
        batch_op.drop_index("ix_alerts_incident")
    op.drop_table("alerts")
