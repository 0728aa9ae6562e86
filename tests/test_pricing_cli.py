"""`vinylprice train-pricing` and `vinylprice evaluate-pricing` on the bundled sample."""

from __future__ import annotations

from pathlib import Path

import joblib
import pytest

from vinylprice.catalog.ingest import ingest_file
from vinylprice.store import open_database


@pytest.fixture
def sample_home(tmp_path: Path, sample_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    database = open_database(f"sqlite:///{tmp_path / 'vinylprice.db'}")
    database.create_schema()
    for name in ("ebay_json-vinyl.json", "EBAY_images_2024-05-20-.csv"):
        ingest_file(database, sample_dir / name, tmp_path / "references")
    database.dispose()
    monkeypatch.setenv("VINYLPRICE_HOME", str(tmp_path))
    monkeypatch.delenv("VINYLPRICE_DATABASE_URL", raising=False)
    return tmp_path


def test_train_pricing_saves_the_model_with_its_metadata(
    sample_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from vinylprice.cli import main

    code = main(["train-pricing", "--no-asking-prices", "--no-evaluate"])

    out = capsys.readouterr().out
    assert code == 0
    assert "408 sold listings, 0 asking prices" in out
    saved = joblib.load(sample_home / "models" / "pricing.joblib")
    metadata = saved["metadata"]
    assert metadata["sold_listings"] == 408
    assert len(metadata["training_data_version"]) == 12
    assert {"sleeve_rank", "record_rank", "album_median", "listing_ridge"} <= set(
        metadata["features"]
    )


@pytest.mark.parametrize("options", [["--no-evaluate"], []])
def test_train_pricing_without_sales_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    options: list[str]
) -> None:
    from vinylprice.cli import main

    open_database(f"sqlite:///{tmp_path / 'vinylprice.db'}").create_schema()
    monkeypatch.setenv("VINYLPRICE_HOME", str(tmp_path))
    monkeypatch.delenv("VINYLPRICE_DATABASE_URL", raising=False)

    code = main(["train-pricing", "--no-asking-prices", *options])

    assert code == 2
    assert "at least 20 sold listings" in capsys.readouterr().err
    assert not (tmp_path / "models" / "pricing.joblib").exists()


@pytest.mark.slow
def test_evaluate_pricing_prints_the_table(
    sample_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from vinylprice.cli import main

    code = main(["evaluate-pricing", "--folds", "3", "--repeats", "1", "--no-asking-prices"])

    out = capsys.readouterr().out
    assert code == 0
    for line in ("model, sold listings only", "album median (baseline)", "global median",
                 "MdAPE >= 20% below the album-median baseline"):
        assert line in out


def test_retrain_goes_on_when_there_are_too_few_sales(tmp_path: Path) -> None:
    from vinylprice.pricing import train_pricing
    from vinylprice.settings import Settings

    database = open_database(f"sqlite:///{tmp_path / 'vinylprice.db'}")
    database.create_schema()

    summary = train_pricing(Settings(home=tmp_path, _env_file=None), database)

    assert summary.startswith("pricing model not trained: 0 sold listings")
    assert not (tmp_path / "models" / "pricing.joblib").exists()
