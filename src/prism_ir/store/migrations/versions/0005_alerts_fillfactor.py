"""ingest: leave room in the alerts table's pages so repeats update in place (HOT)

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # PostgreSQL only (SQLite has no storage parameters); pages written from now on keep 70 % free
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE alerts SET (fillfactor = 30, autovacuum_vacuum_scale_factor = 0.05)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE alerts RESET (fillfactor, autovacuum_vacuum_scale_factor)")
