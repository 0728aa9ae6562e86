"""`vinylprice identify` over several photos, with a stand-in recognizer (no weights needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from vinylprice.answer import Answer
from vinylprice.cli.main import main
from vinylprice.images import ImageError, load_image


class LoadingRecognizer:
    """Loads each photo as the real recognizer does; a readable one is 'not in catalogue'."""

    def identify(self, photo: str, sleeve_grade: str | None = None,
                 record_grade: str | None = None) -> Answer:
        try:
            load_image(photo)
        except ImageError as error:
            return Answer(photo=photo, decision="error", error=str(error))
        return Answer(photo=photo, decision="unknown")


@pytest.fixture(autouse=True)
def stand_in_recognizer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from vinylprice.service import Recognizer

    monkeypatch.setenv("VINYLPRICE_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(Recognizer, "from_settings", lambda settings: LoadingRecognizer())


@pytest.fixture
def good_photo(tmp_path: Path) -> Path:
    path = tmp_path / "good.png"
    Image.new("RGB", (64, 64), "red").save(path)
    return path


def test_every_photo_is_answered_and_failures_set_the_exit_status(
    good_photo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 truncated")

    status = main(["identify", str(good_photo), str(broken), str(tmp_path / "missing.jpg")])

    out, err = capsys.readouterr()
    assert status == 1
    assert "not in the catalogue" in out
    assert "damaged or incomplete" in out and "No such file" in out
    assert "2 of 3 photos could not be read" in err


def test_all_readable_photos_exit_zero(good_photo: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["identify", "--json", str(good_photo), str(good_photo)])

    out, err = capsys.readouterr()
    assert status == 0
    assert len(out.splitlines()) == 2
    assert err == ""


def test_a_directory_is_named_as_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()

    status = main(["identify", str(folder)])

    out, err = capsys.readouterr()
    assert status == 1
    assert f"{folder} is a directory; expected an image file" in out
    assert "No such file" not in out
    assert "1 of 1 photo could not be read" in err
