"""Leases for workers in other processes and machines, and job events that any replica can read.

Revision ID: 0002
Revises: 0001

Jobs running under the previous schema have no lease: they count as expired, so the first worker to look
reclaims them (their process is gone: that schema had only in-process workers).
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("lease_token", sa.String(32), nullable=True))
    op.add_column("jobs", sa.Column("lease_expires_at", sa.Float, nullable=True))
    op.add_column("jobs", sa.Column("worker", sa.String(128), nullable=True))
    op.create_index("ix_jobs_status_created_at", "jobs", ["status", "created_at"])
    op.create_table(
        "job_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(32), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("data", sa.Text, nullable=True),
    )
    op.create_index("ix_job_events_job_id", "job_events", ["job_id"])


def downgrade() -> None:
    op.drop_table("job_events")
    op.drop_index("ix_jobs_status_created_at", "jobs")
    op.drop_column("jobs", "worker")
    op.drop_column("jobs", "lease_expires_at")
    op.drop_column("jobs", "lease_token")
