"""The recognition service: one photo in, one `Answer` out (load → locate → embed → shortlist →
verify → decide → price). The CLI and the bot are thin doors onto a shared `Recognizer`."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from vinylprice.answer import Album, Answer
from vinylprice.corrections import resolve_correction
from vinylprice.embed import Embedder, embedder_from_settings
from vinylprice.images import ImageError, load_image
from vinylprice.locate import Locator
from vinylprice.match import Matcher, Thresholds, decide
from vinylprice.pricing import Pricer, load_pricer
from vinylprice.search import Build, load_build, make_index
from vinylprice.search.builds import current_build_id
from vinylprice.settings import Settings
from vinylprice.store import Album as AlbumRow
from vinylprice.store import Database, FeedbackKind, check_schema, open_database
from vinylprice.store.queries import QueryLog, UserKeys, feedback_kind

log = logging.getLogger(__name__)


class Recognizer:
    """Holds the heavy objects (embedder, index, pricing) once per process; thread-safe."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        embedder: Embedder,
        pricer: Pricer | None = None,
        thresholds: Thresholds | None = None,
    ) -> None:
        self.settings = settings
        self.database = database
        self.embedder = embedder
        self.thresholds = thresholds or Thresholds()
        self.locator = Locator()
        self._extractors = ThreadPoolExecutor(settings.bot_workers, "local-features")
        self._pricer = pricer
        self._lock = threading.RLock()
        self._reload_lock = threading.Lock()
        self._failed_build_id: str | None = None
        check_schema(database)
        self.queries = QueryLog(database, settings.query_dir,
                                UserKeys(settings.home / "user-key.secret"))
        self._load_catalogue()

    @classmethod
    def from_settings(cls, settings: Settings) -> Recognizer:
        """Open the database, load the embedder and the current index build."""
        database = open_database(settings.resolved_database_url)
        check_schema(database)
        embedder = embedder_from_settings(settings)
        return cls(settings, database, embedder)

    @property
    def build_id(self) -> str:
        return self.build.build_id

    def reload(self) -> str:
        """Load the current index build and prices again (after `vinylprice rebuild`)."""
        with self._reload_lock:
            self._load_catalogue()
        return self.build_id

    def reload_if_changed(self) -> bool:
        """Reload when the CURRENT build differs from the loaded one; cheap enough to poll.

        Returns True when a new build was loaded. A build that fails to load is logged once
        and skipped until CURRENT moves again; the loaded one keeps answering meanwhile.
        """
        current = current_build_id(self.settings.builds_dir)
        if current is None or current in (self.build_id, self._failed_build_id):
            return False

        with self._reload_lock:
            if current_build_id(self.settings.builds_dir) == self.build_id:
                return False
            try:
                self._load_catalogue()
            except Exception as error:  # any failure must leave the running catalogue in place
                self._failed_build_id = current
                log.error("automatic reload of build %s failed; keeping build %s: %s",
                          current, self.build_id, error)
                return False
        return True

    def identify(
        self,
        photo: bytes | str | Path,
        *,
        sleeve_grade: str | None = None,
        record_grade: str | None = None,
        source: str = "cli",
        user_key: str | None = None,
    ) -> Answer:
        """Recognise the album in `photo` and price it; bad photos give an 'error' answer."""
        name = photo if isinstance(photo, (str, Path)) else "<upload>"
        answer = Answer(photo=str(name), decision="error", query_id=uuid.uuid4().hex[:12],
                        sleeve_grade=sleeve_grade, record_grade=record_grade)
        with self._lock:
            build, matcher, pricer = self.build, self.matcher, self.pricer
        answer.build_id = build.build_id
        timings = answer.timings_ms

        try:
            with _timed(timings, "load"):
                image = load_image(photo, self.settings.max_photo_bytes,
                                   self.settings.max_photo_pixels)
        except ImageError as error:
            answer.error = str(error)
            log.info("query %s: decision=error reason=%r", answer.query_id, str(error))
            self._record(answer, photo, source, user_key)
            return answer

        with _timed(timings, "locate"):
            regions = self.locator.locate(image)

        with _timed(timings, "embed"):
            # The photo's local features are extracted on another thread while the CNN runs.
            extracting = self._extractors.submit(matcher.features, image)
            vectors = self.embedder.embed([region.image for region in regions])

        with _timed(timings, "features"):
            features = extracting.result()

        with _timed(timings, "shortlist"):
            shortlist = matcher.shortlist(vectors, features, self.settings.shortlist_k)

        with _timed(timings, "verify"):
            ranked = matcher.verify(shortlist, features, self.thresholds)

        answer.decision, answer.confidence = decide(ranked, self.thresholds)
        answer.candidates = [album.candidate() for album in ranked[:5]]
        if answer.decision == "matched":
            answer.album = ranked[0].album
            with _timed(timings, "price"):
                answer.price = pricer.quote(answer.album.album_id, sleeve_grade, record_grade)

        log.info(
            "query %s: source=%s decision=%s album=%s confidence=%.3f build=%s timings=%s",
            answer.query_id, source, answer.decision,
            answer.album.album_id if answer.album else None, answer.confidence,
            build.build_id, {k: round(v, 1) for k, v in timings.items()},
        )
        self._record(answer, photo, source, user_key)
        return answer

    def reprice(
        self, query_id: str, sleeve_grade: str | None = None, record_grade: str | None = None
    ) -> Answer:
        """Re-price a recorded answer for new grades (None keeps the last given grade)."""
        # No recognition is re-run; the grades are recorded as 'grade' feedback.
        answer = self.queries.answer(query_id)
        answer.sleeve_grade = sleeve_grade or answer.sleeve_grade
        answer.record_grade = record_grade or answer.record_grade
        self.queries.add_feedback(query_id, FeedbackKind.GRADE, sleeve_grade=answer.sleeve_grade,
                                  record_grade=answer.record_grade)

        if answer.album is not None:
            with self._lock:
                pricer = self.pricer
            answer.price = pricer.quote(answer.album.album_id, answer.sleeve_grade,
                                        answer.record_grade)
        log.info("query %s: repriced sleeve=%s record=%s album=%s", query_id,
                 answer.sleeve_grade, answer.record_grade,
                 answer.album.album_id if answer.album else None)
        return answer

    def correct(
        self,
        query_id: str,
        *,
        kind: str,
        album_id: int | None = None,
        text: str | None = None,
    ) -> str:
        """Record what the user says the photo shows; returns what was understood, in words."""
        # Kinds: 'confirmed' (the answer, or `album_id`, is right), 'picked' (a candidate,
        # `album_id`), 'typed' (free `text` naming the album), 'not_in_catalogue'.
        feedback = feedback_kind(kind)
        answered = self.queries.query(query_id).album_id
        if feedback == FeedbackKind.CONFIRMED:
            album_id = album_id if album_id is not None else answered
            if album_id is None:
                raise ValueError(f"query {query_id} named no album, so there is nothing to "
                                 "confirm; pick a candidate or type the album instead")
        elif feedback == FeedbackKind.PICKED and album_id is None:
            raise ValueError("a picked candidate needs its album_id")
        elif feedback == FeedbackKind.TYPED:
            if not text:
                raise ValueError("a typed correction needs the text the user typed")
            resolution = resolve_correction(self.database, text)
            album_id = resolution.album_id
        elif feedback == FeedbackKind.NOT_IN_CATALOGUE:
            album_id = None
        elif feedback == FeedbackKind.GRADE:
            raise ValueError("grades are given with reprice(), not correct()")

        name = self._album_name(album_id) if album_id is not None else None
        self.queries.add_feedback(query_id, feedback, album_id=album_id, text=text)
        log.info("query %s: feedback=%s album=%s", query_id, feedback.value, album_id)

        if feedback == FeedbackKind.NOT_IN_CATALOGUE:
            return "Noted: this record is not in the catalogue yet."
        if feedback == FeedbackKind.TYPED and resolution.pending_review:
            return (f"Understood as {resolution.name}. It is not in the catalogue yet; "
                    "it has been saved for review.")
        if feedback == FeedbackKind.CONFIRMED:
            return f"Thanks, confirmed as {name}."
        return f"Understood as {name}."

    def stats(self) -> dict[str, object]:
        """Queries, corrections, accuracy judged from users' verdicts, and the build in use."""
        with self._lock:
            build_id, vectors = self.build.build_id, len(self.build.vectors)
        return {**self.queries.stats(), "build_id": build_id, "index_vectors": vectors}

    def _album_name(self, album_id: int) -> str:
        with self.database.session() as session:
            row = session.get(AlbumRow, album_id)
        if row is None:
            raise ValueError(f"there is no album with id {album_id} in the catalogue")
        return row.name

    def _record(self, answer: Answer, photo: bytes | str | Path | None, source: str,
                user: str | None) -> None:
        # A storage failure is logged; it never costs the user the answer.
        try:
            self.queries.record(answer, self._sent_bytes(photo), source=source, user=user)
        except (OSError, SQLAlchemyError) as error:
            log.error("query %s: not recorded: %s", answer.query_id, error)

    def _sent_bytes(self, photo: bytes | str | Path | None) -> bytes | None:
        # Keep what the user sent, within the size limit; a missing path has nothing to keep.
        limit = self.settings.max_photo_bytes
        if photo is None or isinstance(photo, bytes):
            return photo if photo is None or len(photo) <= limit else None
        path = Path(photo)
        if not path.is_file() or path.stat().st_size > limit:
            return None
        return path.read_bytes()

    def _load_catalogue(self) -> None:
        build = load_build(self.settings.builds_dir, self.embedder.fingerprint)
        with self.database.session() as session:
            albums = {
                row.id: Album(row.id, row.artist, row.title)
                for row in session.scalars(select(AlbumRow))
            }
        pricer = self._pricer or load_pricer(self.settings, self.database)
        index = make_index(build.vectors, self.settings.index_backend, build.path)
        matcher = Matcher.load(build, index, albums)
        with self._lock:
            self.build: Build = build
            self.index = index
            self.matcher = matcher
            self.albums = albums
            self.pricer = pricer
        log.info("catalogue loaded: build %s, %d vectors, %d albums",
                 build.build_id, len(build.vectors), len(albums))


@contextmanager
def _timed(timings: dict[str, float], step: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[step] = (time.perf_counter() - started) * 1000
