"""The schema: the catalogue (albums, listings, reference images), the index builds made from
it, and what users asked (queries with their candidates) and told us back (feedback)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    ForeignKey,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Named constraints let Alembic migrations drop and compare them on SQLite and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utc_now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Album(Base):
    __tablename__ = "albums"
    __table_args__ = (UniqueConstraint("artist", "title", name="uq_albums_artist_title"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    artist: Mapped[str] = mapped_column(String(300), default="")
    title: Mapped[str] = mapped_column(String(300))
    pending_review: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    listings: Mapped[list[Listing]] = relationship(back_populates="album")
    reference_images: Mapped[list[ReferenceImage]] = relationship(back_populates="album")

    @property
    def name(self) -> str:
        return f"{self.artist} – {self.title}" if self.artist else self.title


class Listing(Base):
    """A marketplace listing: a sale (eBay sold) or an asking price (Discogs)."""

    __tablename__ = "listings"
    __table_args__ = (UniqueConstraint("source", "external_id", name="uq_listings_source_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(40))
    external_id: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(10), default="sold")
    title: Mapped[str] = mapped_column(Text, default="")
    listed_artist: Mapped[str | None] = mapped_column(String(300))
    price: Mapped[float | None]
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    shipping: Mapped[float | None]
    shipping_text: Mapped[str | None] = mapped_column(Text)
    sleeve_grade: Mapped[str | None] = mapped_column(String(120))
    record_grade: Mapped[str | None] = mapped_column(String(120))
    year: Mapped[int | None]
    sold_date: Mapped[datetime | None]
    image_file: Mapped[str | None] = mapped_column(String(300))
    image_url: Mapped[str | None] = mapped_column(Text)
    search_keyword: Mapped[str | None] = mapped_column(String(300))
    hand_label: Mapped[str | None] = mapped_column(String(120))
    extra: Mapped[str | None] = mapped_column(Text)
    album_id: Mapped[int | None] = mapped_column(ForeignKey("albums.id"), index=True)
    excluded: Mapped[bool] = mapped_column(default=False)
    excluded_reason: Mapped[str | None] = mapped_column(String(200))
    ingested_at: Mapped[datetime] = mapped_column(default=utc_now)

    album: Mapped[Album | None] = relationship(back_populates="listings")


class ReferenceImage(Base):
    """A catalogue image of an album's cover, stored content-addressed in the data home."""

    __tablename__ = "reference_images"
    __table_args__ = (UniqueConstraint("album_id", "sha256", name="uq_reference_album_sha"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    album_id: Mapped[int] = mapped_column(ForeignKey("albums.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(400))
    origin: Mapped[str] = mapped_column(String(40), default="listing")
    listing_id: Mapped[int | None] = mapped_column(ForeignKey("listings.id"))
    width: Mapped[int | None]
    height: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    query_id: Mapped[str | None] = mapped_column(ForeignKey("queries.id"), index=True)

    album: Mapped[Album] = relationship(back_populates="reference_images")


class IndexBuild(Base):
    """One index build made by `vinylprice rebuild` or `retrain`: what made it and its counts."""

    __tablename__ = "index_builds"

    id: Mapped[int] = mapped_column(primary_key=True)
    build_id: Mapped[str] = mapped_column(String(40), unique=True)
    embedder: Mapped[str] = mapped_column(String(200))
    backbone: Mapped[str] = mapped_column(String(60))
    weights: Mapped[str] = mapped_column(String(400))
    dimension: Mapped[int]
    reference_images: Mapped[int]
    albums: Mapped[int]
    skipped_images: Mapped[int] = mapped_column(default=0)
    seconds: Mapped[float]
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class Query(Base):
    """One photo a user sent and the answer given; the photo is stored by content hash."""

    __tablename__ = "queries"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utc_now, index=True
    )
    source: Mapped[str] = mapped_column(String(20))
    user_key: Mapped[str | None] = mapped_column(String(64), index=True)
    photo_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    photo_path: Mapped[str | None] = mapped_column(String(400))
    decision: Mapped[str] = mapped_column(String(10))
    album_id: Mapped[int | None] = mapped_column(ForeignKey("albums.id"), index=True)
    confidence: Mapped[float] = mapped_column(default=0.0)
    sleeve_grade: Mapped[str | None] = mapped_column(String(120))
    record_grade: Mapped[str | None] = mapped_column(String(120))
    build_id: Mapped[str | None] = mapped_column(String(40), index=True)
    answer: Mapped[dict[str, Any]] = mapped_column(JSON)
    timings_ms: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)

    candidates: Mapped[list[QueryCandidate]] = relationship(
        back_populates="query", order_by="QueryCandidate.rank"
    )
    feedback: Mapped[list[Feedback]] = relationship(
        back_populates="query", order_by="Feedback.id"
    )


class QueryCandidate(Base):
    """An album offered for a query, in rank order, with the scores that ranked it."""

    __tablename__ = "query_candidates"
    __table_args__ = (UniqueConstraint("query_id", "rank", name="uq_query_candidates_rank"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    query_id: Mapped[str] = mapped_column(ForeignKey("queries.id"), index=True)
    rank: Mapped[int]
    album_id: Mapped[int] = mapped_column(ForeignKey("albums.id"))
    score: Mapped[float]
    cosine: Mapped[float | None]
    inliers: Mapped[int | None]
    reference_image: Mapped[str | None] = mapped_column(String(400))

    query: Mapped[Query] = relationship(back_populates="candidates")


class FeedbackKind(StrEnum):
    """What a user told us about an answer."""

    CONFIRMED = "confirmed"
    PICKED = "picked"
    TYPED = "typed"
    NOT_IN_CATALOGUE = "not_in_catalogue"
    GRADE = "grade"


# Feedback that names the album a query photo shows; it turns the photo into a reference.
ALBUM_FEEDBACK = (FeedbackKind.CONFIRMED, FeedbackKind.PICKED, FeedbackKind.TYPED)


class Feedback(Base):
    """One thing a user told us about a query: confirmed, a correction, or the grades."""

    __tablename__ = "feedback"
    __table_args__ = (
        CheckConstraint(
            "kind IN (" + ", ".join(f"'{kind.value}'" for kind in FeedbackKind) + ")",
            name="kind",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    query_id: Mapped[str] = mapped_column(ForeignKey("queries.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    album_id: Mapped[int | None] = mapped_column(ForeignKey("albums.id"), index=True)
    text: Mapped[str | None] = mapped_column(Text)
    sleeve_grade: Mapped[str | None] = mapped_column(String(120))
    record_grade: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utc_now, index=True
    )

    query: Mapped[Query] = relationship(back_populates="feedback")
    album: Mapped[Album | None] = relationship()
