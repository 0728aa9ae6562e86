"""Test doubles for the bot: a fake recognizer and an in-process Bot API transport."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from telegram.error import NetworkError
from telegram.request import BaseRequest, RequestData

from tests.e2e.fake_bot_api import FakeBotApi
from vinylprice.answer import Album, Answer, Candidate, Price
from vinylprice.images import ImageError, load_image

RUMOURS = Album(1, "Fleetwood Mac", "Rumours")
TUSK = Album(2, "Fleetwood Mac", "Tusk")
ABBEY_ROAD = Album(3, "The Beatles", "Abbey Road")
ALBUMS = {album.album_id: album for album in (RUMOURS, TUSK, ABBEY_ROAD)}
BASE_PRICE = 24.0
GRADE_FACTORS = {None: 1.0, "NM": 1.4, "VG+": 1.0, "VG": 0.7, "G+": 0.45}


class FakeRecognizer:
    """Stands in for `vinylprice.service.Recognizer`: decodes the photo for real, then answers
    with Rumours (or `decision`), prices by a fixed grade table and records every call.

    Like the real one, reprice keeps a grade left None and shows the album the user picked.
    """

    def __init__(self, decision: str = "matched") -> None:
        self.decision = decision
        self.build_id = "build-1"
        self.identified: list[dict[str, Any]] = []
        self.corrections: list[dict[str, Any]] = []
        self.repriced: list[tuple[str, str | None, str | None]] = []
        self.answers: dict[str, Answer] = {}
        self._picked: dict[str, Album] = {}
        self._lock = threading.Lock()

    def identify(
        self,
        photo: bytes | Path,
        *,
        sleeve_grade: str | None = None,
        record_grade: str | None = None,
        source: str = "cli",
        user_key: str | None = None,
    ) -> Answer:
        with self._lock:
            query_id = f"q{len(self.identified) + 1:04d}"
            self.identified.append({"query_id": query_id, "source": source,
                                    "user_key": user_key, "photo_type": type(photo).__name__})
        try:
            load_image(photo)
        except ImageError as error:
            answer = Answer("<upload>", "error", error=str(error), query_id=query_id)
        else:
            answer = self._answer(query_id, sleeve_grade, record_grade)
        with self._lock:
            self.answers[query_id] = answer
        return answer

    def reprice(self, query_id: str, sleeve_grade: str | None, record_grade: str | None) -> Answer:
        with self._lock:
            self.repriced.append((query_id, sleeve_grade, record_grade))
            answer = self.answers[query_id]
            album = self._picked.get(query_id, answer.album)
            sleeve = sleeve_grade or answer.sleeve_grade
            record = record_grade or answer.record_grade
            self.answers[query_id] = replace(answer, sleeve_grade=sleeve, record_grade=record)
        price = _price(sleeve, record) if album else None
        decision = "matched" if album else answer.decision
        return replace(answer, decision=decision, album=album, price=price, sleeve_grade=sleeve,
                       record_grade=record)

    def correct(
        self, query_id: str, *, album_id: int | None = None, text: str | None = None, kind: str
    ) -> str:
        with self._lock:
            if query_id not in self.answers:
                raise KeyError(f"No query {query_id!r}.")
            self.corrections.append(
                {"query_id": query_id, "album_id": album_id, "text": text, "kind": kind}
            )
            if album_id is not None:
                self._picked[query_id] = ALBUMS[album_id]
                return f"Understood as {ALBUMS[album_id].name}."
        if text:
            return f"Understood as {text}. It is not in the catalogue yet."
        return "Noted: this record is not in the catalogue yet."

    def reload(self) -> str:
        self.build_id = "build-2"
        return self.build_id

    def stats(self) -> dict[str, Any]:
        return {"queries": len(self.identified), "corrections": len(self.corrections),
                "accuracy_confirmed": 0.75, "build": self.build_id}

    def _answer(self, query_id: str, sleeve: str | None, record: str | None) -> Answer:
        candidates = [Candidate(RUMOURS, 0.93), Candidate(TUSK, 0.41), Candidate(ABBEY_ROAD, 0.2)]
        if self.decision == "matched":
            return Answer("<upload>", "matched", album=RUMOURS, confidence=0.93,
                          candidates=candidates, price=_price(sleeve, record), query_id=query_id,
                          sleeve_grade=sleeve, record_grade=record)
        return Answer("<upload>", self.decision, confidence=0.3, candidates=candidates,
                      query_id=query_id, sleeve_grade=sleeve, record_grade=record)


def _price(sleeve: str | None, record: str | None) -> Price:
    factor = GRADE_FACTORS.get(sleeve, 1.0) * GRADE_FACTORS.get(record, 1.0)
    suggested = round(BASE_PRICE * factor, 2)
    return Price(suggested, round(suggested * 0.75, 2), round(suggested * 1.25, 2), "USD", 12,
                 "fixed test table")


class InProcessRequest(BaseRequest):
    """PTB's HTTP transport replaced by direct calls into a `FakeBotApi`: no sockets at all."""

    def __init__(self, api: FakeBotApi) -> None:
        self.api = api
        # Requests whose URL path ends with a key fail with a dropped connection, that many times.
        self.drop: dict[str, int] = {}

    @property
    def read_timeout(self) -> float:
        return 5.0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        params = request_data.parameters if request_data else {}
        path = unquote(urlsplit(url).path)
        for suffix, left in self.drop.items():
            if left and path.endswith(suffix):
                self.drop[suffix] = left - 1
                raise NetworkError("httpx.ReadError: connection dropped (test)")
        status, body, _ = await asyncio.to_thread(self.api.route, method, path, dict(params))
        return status, body
