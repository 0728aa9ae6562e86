"""Review of albums users named that the catalogue lacked: list them, approve them.

A typed correction naming an unknown album adds it pending review; its photos become
reference images at the next retrain but stay out of the index until an admin approves it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from vinylprice.store import Album, Database, Feedback


@dataclass
class PendingAlbum:
    album_id: int
    artist: str
    title: str
    created_at: datetime
    corrections: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.artist} – {self.title}" if self.artist else self.title


def pending_albums(database: Database) -> list[PendingAlbum]:
    """Albums awaiting review, oldest first, with the corrections that named them."""
    with database.session() as session:
        albums = session.scalars(
            select(Album).where(Album.pending_review.is_(True)).order_by(Album.id)
        ).all()
        texts = session.execute(
            select(Feedback.album_id, Feedback.text)
            .where(Feedback.album_id.in_([album.id for album in albums]))
            .order_by(Feedback.id)
        ).all()

    pending = {
        album.id: PendingAlbum(album.id, album.artist, album.title, album.created_at)
        for album in albums
    }
    for album_id, text in texts:
        if text:
            pending[album_id].corrections.append(text)
    return list(pending.values())


def approve_album(
    database: Database, album_id: int, artist: str | None = None, title: str | None = None
) -> Album:
    """Accept a pending album into the catalogue, optionally correcting its artist and title."""
    with database.session() as session:
        album = session.get(Album, album_id)
    if album is None:
        raise ValueError(f"there is no album with id {album_id}")
    if not album.pending_review:
        raise ValueError(f"album {album_id} ({album.name}) is not pending review")

    new_artist = album.artist if artist is None else artist.strip()
    new_title = title.strip() if title and title.strip() else album.title
    try:
        with database.session() as session:
            album = session.get(Album, album_id)
            album.artist, album.title, album.pending_review = new_artist, new_title, False
    except IntegrityError:
        raise ValueError(
            f"the catalogue already has an album {new_artist} – {new_title}; approve this one "
            "under another name or leave it pending"
        ) from None
    return album
