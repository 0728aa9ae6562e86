"""`vinylprice db status` and `db upgrade` on a SQLite file in a temporary home."""

from __future__ import annotations

from pathlib import Path

import pytest

from vinylprice.cli.main import main
from vinylprice.store import sqlite_file


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("VINYLPRICE_HOME", str(home))
    monkeypatch.delenv("VINYLPRICE_DATABASE_URL", raising=False)
    return home


def test_status_without_a_database_says_so_and_creates_nothing(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["db", "status"])

    out = capsys.readouterr().out
    assert status == 1
    assert f"No database at {home / 'vinylprice.db'}" in out
    assert "vinylprice db upgrade" in out
    assert not home.exists()


def test_status_after_upgrade_is_current(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade"]) == 0
    capsys.readouterr()

    status = main(["db", "status"])

    out = capsys.readouterr().out
    assert status == 0
    assert "schema revision" in out and "Run `vinylprice db upgrade`" not in out


@pytest.mark.parametrize(
    ("url", "file"),
    [
        ("sqlite:///var/vinylprice.db", Path("var/vinylprice.db")),
        ("sqlite:////srv/data/v.db", Path("/srv/data/v.db")),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("postgresql://user:secret@db/vinylprice", None),
    ],
)
def test_sqlite_file_is_read_from_the_url(url: str, file: Path | None) -> None:
    assert sqlite_file(url) == file
