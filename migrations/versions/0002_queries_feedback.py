"""Index builds, queries with their candidates, feedback; reference images from queries.

Revision ID: 0002
Revises: 0001
Create Date: 2024-05-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

FEEDBACK_KINDS = ("confirmed", "picked", "typed", "not_in_catalogue", "grade")


def upgrade() -> None:
    op.create_table(
        "index_builds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("build_id", sa.String(40), nullable=False),
        sa.Column("embedder", sa.String(200), nullable=False),
        sa.Column("backbone", sa.String(60), nullable=False),
        sa.Column("weights", sa.String(400), nullable=False),
        sa.Column("dimension", sa.Integer(), nullable=False),
        sa.Column("reference_images", sa.Integer(), nullable=False),
        sa.Column("albums", sa.Integer(), nullable=False),
        sa.Column("skipped_images", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Double(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_index_builds"),
        sa.UniqueConstraint("build_id", name="uq_index_builds_build_id"),
    )

    op.create_table(
        "queries",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("user_key", sa.String(64), nullable=True),
        sa.Column("photo_sha256", sa.String(64), nullable=True),
        sa.Column("photo_path", sa.String(400), nullable=True),
        sa.Column("decision", sa.String(10), nullable=False),
        sa.Column("album_id", sa.Integer(), nullable=True),
        sa.Column("confidence", sa.Double(), nullable=False),
        sa.Column("sleeve_grade", sa.String(120), nullable=True),
        sa.Column("record_grade", sa.String(120), nullable=True),
        sa.Column("build_id", sa.String(40), nullable=True),
        sa.Column("answer", sa.JSON(), nullable=False),
        sa.Column("timings_ms", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["album_id"], ["albums.id"], name="fk_queries_album_id_albums"),
        sa.PrimaryKeyConstraint("id", name="pk_queries"),
    )
    for column in ("created_at", "user_key", "photo_sha256", "album_id", "build_id"):
        op.create_index(f"ix_queries_{column}", "queries", [column])

    op.create_table(
        "query_candidates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("query_id", sa.String(32), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("album_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("cosine", sa.Double(), nullable=True),
        sa.Column("inliers", sa.Integer(), nullable=True),
        sa.Column("reference_image", sa.String(400), nullable=True),
        sa.ForeignKeyConstraint(
            ["album_id"], ["albums.id"], name="fk_query_candidates_album_id_albums"
        ),
        sa.ForeignKeyConstraint(
            ["query_id"], ["queries.id"], name="fk_query_candidates_query_id_queries"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_query_candidates"),
        sa.UniqueConstraint("query_id", "rank", name="uq_query_candidates_rank"),
    )
    op.create_index("ix_query_candidates_query_id", "query_candidates", ["query_id"])

    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("query_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("album_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("sleeve_grade", sa.String(120), nullable=True),
        sa.Column("record_grade", sa.String(120), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN (" + ", ".join(f"'{kind}'" for kind in FEEDBACK_KINDS) + ")",
            name="ck_feedback_kind",
        ),
        sa.ForeignKeyConstraint(["album_id"], ["albums.id"], name="fk_feedback_album_id_albums"),
        sa.ForeignKeyConstraint(["query_id"], ["queries.id"], name="fk_feedback_query_id_queries"),
        sa.PrimaryKeyConstraint("id", name="pk_feedback"),
    )
    for column in ("query_id", "album_id", "created_at"):
        op.create_index(f"ix_feedback_{column}", "feedback", [column])

    with op.batch_alter_table("reference_images") as batch:
        batch.add_column(sa.Column("query_id", sa.String(32), nullable=True))
        batch.create_index("ix_reference_images_query_id", ["query_id"])
        batch.create_foreign_key(
            "fk_reference_images_query_id_queries", "queries", ["query_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("reference_images") as batch:
        batch.drop_constraint("fk_reference_images_query_id_queries", type_="foreignkey")
        batch.drop_index("ix_reference_images_query_id")
        batch.drop_column("query_id")

    for column in ("query_id", "album_id", "created_at"):
        op.drop_index(f"ix_feedback_{column}", table_name="feedback")
    op.drop_table("feedback")
    op.drop_index("ix_query_candidates_query_id", table_name="query_candidates")
    op.drop_table("query_candidates")
    for column in ("created_at", "user_key", "photo_sha256", "album_id", "build_id"):
        op.drop_index(f"ix_queries_{column}", table_name="queries")
    op.drop_table("queries")
    op.drop_table("index_builds")
