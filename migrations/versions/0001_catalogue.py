"""The catalogue: albums, listings and reference images.

Revision ID: 0001
Revises:
Create Date: 2024-05-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "albums",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("artist", sa.String(300), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("pending_review", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_albums"),
        sa.UniqueConstraint("artist", "title", name="uq_albums_artist_title"),
    )

    op.create_table(
        "listings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("external_id", sa.String(120), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("listed_artist", sa.String(300), nullable=True),
        sa.Column("price", sa.Double(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("shipping", sa.Double(), nullable=True),
        sa.Column("shipping_text", sa.Text(), nullable=True),
        sa.Column("sleeve_grade", sa.String(120), nullable=True),
        sa.Column("record_grade", sa.String(120), nullable=True),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("sold_date", sa.DateTime(), nullable=True),
        sa.Column("image_file", sa.String(300), nullable=True),
        sa.Column("image_url", sa.Text(), nullable=True),
        sa.Column("search_keyword", sa.String(300), nullable=True),
        sa.Column("hand_label", sa.String(120), nullable=True),
        sa.Column("extra", sa.Text(), nullable=True),
        sa.Column("album_id", sa.Integer(), nullable=True),
        sa.Column("excluded", sa.Boolean(), nullable=False),
        sa.Column("excluded_reason", sa.String(200), nullable=True),
        sa.Column("ingested_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["album_id"], ["albums.id"], name="fk_listings_album_id_albums"),
        sa.PrimaryKeyConstraint("id", name="pk_listings"),
        sa.UniqueConstraint("source", "external_id", name="uq_listings_source_id"),
    )
    op.create_index("ix_listings_album_id", "listings", ["album_id"])

    op.create_table(
        "reference_images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("album_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("path", sa.String(400), nullable=False),
        sa.Column("origin", sa.String(40), nullable=False),
        sa.Column("listing_id", sa.Integer(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["album_id"], ["albums.id"], name="fk_reference_images_album_id_albums"
        ),
        sa.ForeignKeyConstraint(
            ["listing_id"], ["listings.id"], name="fk_reference_images_listing_id_listings"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_reference_images"),
        sa.UniqueConstraint("album_id", "sha256", name="uq_reference_album_sha"),
    )
    op.create_index("ix_reference_images_album_id", "reference_images", ["album_id"])


def downgrade() -> None:
    op.drop_index("ix_reference_images_album_id", table_name="reference_images")
    op.drop_table("reference_images")
    op.drop_index("ix_listings_album_id", table_name="listings")
    op.drop_table("listings")
    op.drop_table("albums")
