"""The catalogue schema: albums, the listings they sold in, and their reference images."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


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

    album: Mapped[Album] = relationship(back_populates="reference_images")
