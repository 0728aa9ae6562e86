"""Fine-tuning end to end on a few real sample photos with the small MobileNet: where albums
come from, determinism and resuming, and how a saved head is loaded, fingerprinted and refused."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from vinylprice.embed import (
    HEAD_MANIFEST,
    Embedder,
    EmbedderError,
    embedder_from_settings,
    load_head,
    resolve_head,
)
from vinylprice.images import load_image
from vinylprice.learn.finetune import (
    AUGMENTED,
    CLEAN,
    PHOTO,
    FinetuneConfig,
    TrainingAlbum,
    collect_albums,
    finetune,
)

TINY = FinetuneConfig(epochs=2, augmented_views=2, dimension=16, albums_per_batch=6,
                      clutter_covers=6, shard_albums=5, validation_fraction=0.2)


@pytest.fixture(scope="module")
def covers(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Path:
    """A folder of 10 of the sample's listing photos, one album each."""
    folder = tmp_path_factory.mktemp("covers") / "covers"
    folder.mkdir()
    for path in sorted((sample_dir / "images").iterdir())[:10]:
        shutil.copy(path, folder / path.name)
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, small_embedder: Embedder, covers: Path):
    """One tiny fine-tuning run: (report, models_dir, cache_dir)."""
    work = tmp_path_factory.mktemp("finetune")
    albums = collect_albums(None, [covers])
    report = finetune(albums, small_embedder, work / "models", work / "cache", TINY,
                      version="tiny", progress=False)
    return report, work / "models", work / "cache"


@pytest.fixture(scope="module")
def head_embedder(trained, small_weights: Path) -> Embedder:
    """The small embedder with the tiny head, chosen the way the product does: by settings."""
    from vinylprice.settings import Settings

    _, models_dir, _ = trained
    settings = Settings(home=models_dir.parent, weights=str(small_weights),
                        backbone="mobilenet_0.25", embedding_head="tiny", _env_file=None)
    return embedder_from_settings(settings)


def test_folder_albums_are_one_per_image_file_sorted_by_key(covers: Path, tmp_path: Path) -> None:
    (covers.parent / "notes.txt").write_text("not an image")

    albums = collect_albums(None, [covers])

    assert len(albums) == 10
    assert [album.key for album in albums] == sorted(album.key for album in albums)
    assert all(len(album.references) == 1 and not album.photos for album in albums)
    with pytest.raises(FileNotFoundError, match="one album per file"):
        collect_albums(None, [tmp_path / "missing"])


def test_catalogue_albums_bring_listing_photos_and_confirmed_user_photos(
    tmp_path: Path, sample_dir: Path
) -> None:
    from sqlalchemy import func, select

    from vinylprice.catalog.ingest import ingest_file
    from vinylprice.store import Feedback, Query, ReferenceImage, open_database

    database = open_database(f"sqlite:///{tmp_path / 'catalogue.db'}")
    database.create_schema()
    for name in ("ebay_json-vinyl.json", "EBAY_images_2024-05-20-.csv"):
        ingest_file(database, sample_dir / name, tmp_path / "references", sample_dir / "images")
    with database.session() as session:
        album_id, count = session.execute(
            select(ReferenceImage.album_id, func.count()).group_by(ReferenceImage.album_id)
            .order_by(func.count().desc())
        ).first()
        photo = sample_dir / "origin-image.webp"
        session.add(Query(id="q-confirmed", source="test", decision="matched", answer={},
                          photo_path=str(photo), album_id=album_id))
        session.add(Query(id="q-rejected", source="test", decision="matched", answer={},
                          photo_path=str(tmp_path / "other.jpg"), album_id=album_id))
        session.flush()
        session.add(Feedback(query_id="q-confirmed", kind="confirmed", album_id=album_id))
        session.add(Feedback(query_id="q-rejected", kind="not_in_catalogue"))

    albums = {album.key: album for album in collect_albums(database)}

    chosen = albums[f"album/{album_id}"]
    assert count >= 2 and len(chosen.references) == count
    assert chosen.photos == (photo,)
    assert all(Path(tmp_path / "other.jpg") not in album.photos for album in albums.values())
    database.dispose()


def test_views_hold_clean_and_augmented_features_per_album(trained) -> None:
    report, _, _ = trained
    views = report.view_set

    assert report.albums == 10
    assert report.views == {"clean": 10, "augmented": 20, "photo": 0}
    assert views.features.shape[0] == len(views) == 30
    assert views.features.dtype == np.float16
    for label in range(10):
        kinds = sorted(views.kinds[views.labels == label].tolist())
        assert kinds == [CLEAN, AUGMENTED, AUGMENTED]
    assert not np.any(np.all(views.features == 0, axis=tuple(range(1, views.features.ndim))))


def test_training_logs_a_loss_per_epoch_and_saves_a_loadable_head(
    trained, head_embedder: Embedder, covers: Path
) -> None:
    report, models_dir, _ = trained
    manifest = json.loads((models_dir / "tiny" / HEAD_MANIFEST).read_text())
    photos = [load_image(path) for path in sorted(covers.iterdir())[:3]]

    vectors = head_embedder.embed(photos)
    prepared = np.stack([head_embedder.prepare(photo) for photo in photos])
    features = head_embedder.feature_extractor()(prepared)

    assert [entry.epoch for entry in report.history] == [1, 2]
    assert all(np.isfinite(entry.loss) and entry.loss >= 0 for entry in report.history)
    assert manifest["backbone_fingerprint"] == head_embedder.backbone_fingerprint
    assert manifest["history"][-1]["loss"] == pytest.approx(report.history[-1].loss)
    assert head_embedder.dimension == 16
    assert head_embedder.fingerprint == (f"{head_embedder.backbone_fingerprint}+head:tiny:"
                                         f"{manifest['head_digest']}")
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # The trainer sees features stored as float16; the product runs float32 end to end.
    np.testing.assert_allclose(vectors, report.trainer.transform(features), atol=1e-3)


def test_same_seed_gives_the_same_head_and_resuming_continues_the_same_run(
    trained, small_embedder: Embedder, covers: Path, tmp_path: Path
) -> None:
    report, _, _ = trained
    albums = collect_albums(None, [covers])
    first_epoch = dataclasses.replace(TINY, epochs=1)

    # Interrupted after one epoch, then run again to two: must equal the uninterrupted run.
    finetune(albums, small_embedder, tmp_path / "models", tmp_path / "cache", first_epoch,
             version="one", progress=False)
    resumed = finetune(albums, small_embedder, tmp_path / "models", tmp_path / "cache", TINY,
                       version="two", progress=False)

    def digest(folder: Path) -> str:
        return json.loads((folder / HEAD_MANIFEST).read_text())["head_digest"]

    np.testing.assert_array_equal(resumed.view_set.features, report.view_set.features)
    assert [entry.loss for entry in resumed.history] == pytest.approx(
        [entry.loss for entry in report.history], abs=1e-6)
    assert digest(resumed.path) == digest(report.path)
    assert len(list((tmp_path / "cache").glob("views-*.npz"))) == 2


def test_user_photos_are_views_as_they_are(small_embedder: Embedder, covers: Path,
                                           sample_dir: Path, tmp_path: Path) -> None:
    from vinylprice.learn.finetune import ViewExtractor

    paths = sorted(covers.iterdir())
    albums = [TrainingAlbum("a", (paths[0],), (sample_dir / "origin-image.webp",)),
              TrainingAlbum("b", (paths[1], paths[2]))]
    config = FinetuneConfig(augmented_views=1, clutter_covers=2)

    views = ViewExtractor(small_embedder, config, tmp_path, paths[3:6], progress=False)\
        .extract(albums)

    assert views.kinds[views.labels == 0].tolist() == [CLEAN, AUGMENTED, PHOTO]
    assert views.kinds[views.labels == 1].tolist() == [CLEAN, CLEAN, AUGMENTED]
    assert views.paths[2] == str(sample_dir / "origin-image.webp")


def test_head_for_another_backbone_or_with_other_weights_is_refused(
    trained, small_embedder: Embedder, tmp_path: Path
) -> None:
    _, models_dir, _ = trained
    for field, value, message in (("backbone_fingerprint", "mobilenet_0.25:0000", "trained on"),
                                  ("head_digest", "0000", "do not belong together")):
        copy = tmp_path / field
        shutil.copytree(models_dir / "tiny", copy)
        manifest = json.loads((copy / HEAD_MANIFEST).read_text())
        manifest[field] = value
        (copy / HEAD_MANIFEST).write_text(json.dumps(manifest))

        with pytest.raises(EmbedderError, match=message):
            load_head(copy, small_embedder.backbone_fingerprint)


def test_a_head_is_named_by_version_and_an_index_built_with_it_needs_it(
    trained, head_embedder: Embedder, small_embedder: Embedder, tmp_path: Path
) -> None:
    from vinylprice.search.builds import BuildWriter, IndexMismatchError, load_build

    _, models_dir, _ = trained
    with_head, plain = head_embedder, small_embedder
    with BuildWriter(tmp_path / "builds") as writer:
        writer.save_vectors(np.eye(2, with_head.dimension, dtype=np.float32),
                            [{"reference_id": 1, "album_id": 1, "path": "a"},
                             {"reference_id": 2, "album_id": 2, "path": "b"}])
        writer.commit({"embedder": with_head.fingerprint})

    assert resolve_head("tiny", models_dir) == models_dir / "tiny"
    assert resolve_head(str(models_dir / "tiny" / "head.keras"), tmp_path) == models_dir / "tiny"
    assert with_head.head is not None and plain.head is None
    assert load_build(tmp_path / "builds", with_head.fingerprint).vectors.shape[1] == 16
    with pytest.raises(IndexMismatchError):
        load_build(tmp_path / "builds", plain.fingerprint)
    with pytest.raises(EmbedderError, match="available: tiny"):
        resolve_head("no-such-version", models_dir)


def test_bad_settings_are_refused_with_the_expected_values() -> None:
    with pytest.raises(ValueError, match="attention, average"):
        FinetuneConfig(head="max")
    with pytest.raises(ValueError, match="batch_hard, semi_hard"):
        FinetuneConfig(mining="random")
    with pytest.raises(ValueError, match="epochs"):
        FinetuneConfig(epochs=0)


def test_the_command_trains_and_saves_a_named_head(
    covers: Path, small_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    from vinylprice.cli.main import main

    monkeypatch.setenv("VINYLPRICE_HOME", str(tmp_path))
    monkeypatch.setenv("VINYLPRICE_BACKBONE", "mobilenet_0.25")
    monkeypatch.setenv("VINYLPRICE_WEIGHTS", str(small_weights))
    monkeypatch.delenv("VINYLPRICE_EMBEDDING_HEAD", raising=False)

    code = main(["finetune", "--no-catalogue", "--folder", str(covers), "--epochs", "1",
                 "--dimension", "8", "--name", "cli", "--no-progress"])
    printed = capsys.readouterr().out
    missing = main(["finetune", "--no-catalogue", "--folder", str(tmp_path / "none")])

    assert code == 0
    assert "embedding head cli: 10 albums" in printed
    assert "VINYLPRICE_EMBEDDING_HEAD=cli" in printed
    assert (tmp_path / "models" / "cli" / "head.keras").is_file()
    assert missing == 2
    assert "Cover folder not found" in capsys.readouterr().err
