"""Fine-tune: learn an embedding head with a triplet loss so photos land near their cover.

collect albums → make views → extract frozen backbone features → train the head → save it.

Views of an album are its catalogue reference images as they are ("clean"), photo-like
augmentations of them, and real photos users confirmed. The backbone stays frozen up to a split
(by default its last feature map), so its features are computed once per view, cached on disk in
shards, and the head trains on them in seconds per epoch. The head is saved under
`models_dir/<version>/` with a manifest naming the backbone it was trained on; setting
`VINYLPRICE_EMBEDDING_HEAD=<version>` makes `rebuild` and recognition use it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from vinylprice.embed import HEAD_FILE, HEAD_MANIFEST, Embedder, EmbedderError, weights_digest
from vinylprice.images import ImageError, load_image
from vinylprice.learn.augment import AugmentConfig, PhotoAugmenter
from vinylprice.learn.triplets import MINING, AlbumBatches, triplet_loss

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
CLEAN, AUGMENTED, PHOTO = 0, 1, 2
HEADS = ("attention", "average")


@dataclass(frozen=True)
class FinetuneConfig:
    """Everything that decides the result of a fine-tuning run (with the data)."""

    seed: int = 0
    augmented_views: int = 1
    max_references: int = 3
    max_photos: int = 4
    clutter_covers: int = 256
    head: str = "attention"
    dimension: int = 512
    split_layer: str | None = None
    mining: str = "batch_hard"
    margin: float = 0.2
    epochs: int = 10
    albums_per_batch: int = 64
    views_per_album: int = 3
    learning_rate: float = 1e-3
    validation_fraction: float = 0.05
    shard_albums: int = 256
    # Batches of 8 ran the backbone faster per image than 32 on the 2-core machine.
    extract_batch: int = 8
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        if self.head not in HEADS:
            raise ValueError(f"Unknown head {self.head!r}; expected one of {', '.join(HEADS)}.")
        if self.mining not in MINING:
            raise ValueError(f"Unknown mining {self.mining!r}; expected one of "
                             f"{', '.join(MINING)}.")
        if self.augmented_views < 0 or self.epochs < 1 or self.dimension < 1:
            raise ValueError("augmented_views must be ≥ 0, epochs and dimension ≥ 1; got "
                             f"{self.augmented_views}, {self.epochs}, {self.dimension}.")
        if not 0 <= self.validation_fraction < 0.5:
            raise ValueError(f"validation_fraction must be in [0, 0.5); got "
                             f"{self.validation_fraction}.")

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class TrainingAlbum:
    """One album to learn: its clean reference images and real photos of it."""

    key: str
    references: tuple[Path, ...]
    photos: tuple[Path, ...] = ()


def collect_albums(database: object | None = None,
                   folders: Sequence[Path] = ()) -> list[TrainingAlbum]:
    """Albums from the catalogue (references, listing photos and confirmed user photos) and
    from `folders` of cover images, one album per file; sorted by key."""
    albums: dict[str, TrainingAlbum] = {}
    if database is not None:
        albums.update(_catalogue_albums(database))
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"Cover folder not found: {folder}; expected a folder of "
                                    "images, one album per file.")
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                key = f"{folder.name}/{path.name}"
                albums[key] = TrainingAlbum(key, (path,))
    return [albums[key] for key in sorted(albums)]


def _catalogue_albums(database: object) -> dict[str, TrainingAlbum]:
    from sqlalchemy import select

    from vinylprice.store import Album, Query, ReferenceImage
    from vinylprice.store.models import ALBUM_FEEDBACK, FeedbackKind
    from vinylprice.store.queries import latest_verdicts

    references: dict[int, list[Path]] = {}
    photos: dict[int, list[Path]] = {}
    with database.session() as session:
        rows = session.execute(
            select(ReferenceImage.album_id, ReferenceImage.path, ReferenceImage.query_id)
            .join(Album)
            .where(Album.pending_review.is_(False))
            .order_by(ReferenceImage.id)
        ).all()
        for album_id, path, query_id in rows:
            bucket = photos if query_id else references
            bucket.setdefault(album_id, []).append(Path(path))

        # Photos users judged but that `retrain` has not adopted as references yet.
        for query_id, verdict in latest_verdicts(database).items():
            if FeedbackKind(verdict.kind) not in ALBUM_FEEDBACK or verdict.album_id is None:
                continue
            query = session.get(Query, query_id)
            if query is not None and query.photo_path:
                path = Path(query.photo_path)
                if path not in photos.get(verdict.album_id, []):
                    photos.setdefault(verdict.album_id, []).append(path)

    albums = {}
    for album_id in sorted(set(references) | set(photos)):
        key = f"album/{album_id}"
        albums[key] = TrainingAlbum(key, tuple(references.get(album_id, ())),
                                    tuple(photos.get(album_id, ())))
    log.info("finetune: %d catalogue albums, %d with user photos", len(albums), len(photos))
    return albums


@dataclass
class ViewSet:
    """Frozen backbone features of every view, with its album (label), kind and source file."""

    features: np.ndarray
    labels: np.ndarray
    kinds: np.ndarray
    paths: list[str]
    keys: list[str]

    def __len__(self) -> int:
        return len(self.labels)

    @classmethod
    def concatenate(cls, parts: Sequence[ViewSet], feature_shape: tuple[int, ...]) -> ViewSet:
        """One set from shards, with album labels renumbered to stay distinct."""
        keys, labels = [], []
        for part in parts:
            labels.append(part.labels + len(keys))
            keys.extend(part.keys)
        if not parts:
            return cls(np.zeros((0, *feature_shape), np.float16), np.zeros(0, np.int32),
                       np.zeros(0, np.uint8), [], [])
        return cls(
            np.concatenate([part.features for part in parts]),
            np.concatenate(labels).astype(np.int32),
            np.concatenate([part.kinds for part in parts]),
            [path for part in parts for path in part.paths],
            keys,
        )


class ViewExtractor:
    """Makes the views of albums and runs the frozen backbone on them, shard by shard,
    keeping finished shards in `cache_dir` so an interrupted run resumes where it stopped."""

    def __init__(self, embedder: Embedder, config: FinetuneConfig, cache_dir: Path,
                 clutter: Sequence[Path] = (), progress: bool = True, workers: int = 2) -> None:
        self.embedder = embedder
        self.config = config
        self.cache_dir = Path(cache_dir)
        self.progress = progress
        self.workers = workers
        self._extract = embedder.feature_extractor(config.split_layer)
        self.feature_shape = tuple(
            self._extract(np.zeros((1, embedder.input_size, embedder.input_size, 3),
                                   np.float32)).shape[1:]
        )
        self.clutter_paths = sorted(str(path) for path in clutter)
        self._augmenter: PhotoAugmenter | None = None

    def _load_augmenter(self) -> PhotoAugmenter:
        if self._augmenter is None:
            self._augmenter = PhotoAugmenter.with_clutter_files(
                [Path(path) for path in self.clutter_paths], self.config.clutter_covers,
                self.config.seed, self.config.augment,
            )
        return self._augmenter

    def extract(self, albums: Sequence[TrainingAlbum]) -> ViewSet:
        """Features of all views of `albums`, from the cache where it has them."""
        size = self.config.shard_albums
        shards = [albums[start:start + size] for start in range(0, len(albums), size)]
        total_views = sum(len(self._plan(album)) for album in albums)
        bar = tqdm(total=total_views, desc="views", unit="view", disable=not self.progress)
        parts = []
        for shard in shards:
            path = self.cache_dir / f"views-{self._shard_key(shard)}.npz"
            part = _read_shard(path) if path.is_file() else None
            if part is None:
                part = self._extract_shard(shard, bar)
                _write_shard(path, part)
            else:
                bar.update(sum(len(self._plan(album)) for album in shard))
            parts.append(part)
        bar.close()
        return ViewSet.concatenate(parts, self.feature_shape)

    def features_of(self, paths: Sequence[Path], name: str) -> np.ndarray:
        """Frozen features of images as they are (e.g. evaluation queries), cached as `name`."""
        key = _digest([self._identity(), [_file_identity(Path(p)) for p in paths]])
        cache = self.cache_dir / f"images-{name}-{key}.npy"
        if cache.is_file():
            return np.load(cache)
        jobs = [(Path(path), CLEAN, None) for path in paths]
        bar = tqdm(total=len(jobs), desc=name, unit="img", disable=not self.progress)
        features, kept = self._run(jobs, bar, None)
        if len(kept) != len(jobs):
            missing = sorted(set(range(len(jobs))) - set(kept))
            raise ImageError(f"Could not read {len(missing)} images, e.g. {paths[missing[0]]}.")
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        np.save(cache, features)
        return features

    def _plan(self, album: TrainingAlbum) -> list[tuple[Path, int, int | None]]:
        # (source image, kind, augmentation number) for every view of the album.
        references = list(album.references[: self.config.max_references])
        plan = [(path, CLEAN, None) for path in references]
        sources = references or list(album.photos[:1])
        for number in range(self.config.augmented_views if sources else 0):
            plan.append((sources[number % len(sources)], AUGMENTED, number))
        plan.extend((path, PHOTO, None) for path in album.photos[: self.config.max_photos])
        return plan

    def _extract_shard(self, shard: Sequence[TrainingAlbum], bar: tqdm) -> ViewSet:
        augmenter = self._load_augmenter()
        jobs, owners = [], []
        for position, album in enumerate(shard):
            for source, kind, number in self._plan(album):
                seed = None if number is None else [self.config.seed, _key_number(album.key),
                                                    number]
                jobs.append((source, kind, seed))
                owners.append(position)
        features, kept = self._run(jobs, bar, augmenter)
        return ViewSet(
            features=features,
            labels=np.array([owners[i] for i in kept], np.int32),
            kinds=np.array([jobs[i][1] for i in kept], np.uint8),
            paths=[str(jobs[i][0]) for i in kept],
            keys=[album.key for album in shard],
        )

    def _run(self, jobs: Sequence[tuple[Path, int, list | None]], bar: tqdm,
             augmenter: PhotoAugmenter | None) -> tuple[np.ndarray, list[int]]:
        outputs, kept, batch, batch_positions = [], [], [], []
        batch_size = self.config.extract_batch
        with ThreadPoolExecutor(self.workers) as pool:
            views = pool.map(lambda job: self._view(job, augmenter), jobs)
            for position, array in enumerate(views):
                bar.update(1)
                if array is None:
                    continue
                batch.append(array)
                batch_positions.append(position)
                if len(batch) == batch_size:
                    outputs.append(self._extract(np.stack(batch)).astype(np.float16))
                    kept.extend(batch_positions)
                    batch, batch_positions = [], []
        if batch:
            outputs.append(self._extract(np.stack(batch)).astype(np.float16))
            kept.extend(batch_positions)
        if not outputs:
            return np.zeros((0, *self.feature_shape), np.float16), []
        return np.concatenate(outputs), kept

    def _view(self, job: tuple[Path, int, list | None],
              augmenter: PhotoAugmenter | None) -> np.ndarray | None:
        source, kind, seed = job
        try:
            image = load_image(source)
        except ImageError as error:
            log.warning("finetune: skipping %s: %s", source, error)
            return None
        if kind == AUGMENTED:
            rng = np.random.default_rng(seed)
            image = Image.fromarray(augmenter(np.asarray(image), rng, exclude=str(source)))
        return self.embedder.prepare(image)

    def _identity(self) -> list:
        return [self.embedder.backbone_fingerprint, self.config.split_layer,
                self.embedder.input_size]

    def _shard_key(self, shard: Sequence[TrainingAlbum]) -> str:
        config = self.config
        return _digest([
            self._identity(), config.seed, config.augmented_views, config.max_references,
            config.extract_batch, config.max_photos, config.clutter_covers,
            dataclasses.asdict(config.augment),
            _digest(self.clutter_paths),
            [[album.key, [_file_identity(path) for path in album.references + album.photos]]
             for album in shard],
        ])


def _file_identity(path: Path) -> list:
    try:
        stat = path.stat()
        return [str(path), stat.st_size, int(stat.st_mtime)]
    except OSError:
        return [str(path), None, None]


def _key_number(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _write_shard(path: Path, views: ViewSet) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial.npz")
    np.savez(partial, features=views.features, labels=views.labels, kinds=views.kinds,
             paths=np.array(views.paths, dtype=str), keys=np.array(views.keys, dtype=str))
    os.replace(partial, path)


def _read_shard(path: Path) -> ViewSet | None:
    try:
        with np.load(path) as data:
            return ViewSet(data["features"], data["labels"], data["kinds"],
                           [str(p) for p in data["paths"]], [str(k) for k in data["keys"]])
    except (OSError, ValueError, KeyError) as error:
        log.warning("finetune: recomputing unreadable cache shard %s: %s", path, error)
        return None


def build_head(embedder: Embedder, feature_shape: tuple[int, ...],
               config: FinetuneConfig) -> object:
    """The trainable model: a copy of the backbone's layers after the split (if any), then
    attention or average pooling, a linear projection and L2 normalisation."""
    import keras
    from keras import layers

    inputs = keras.Input(feature_shape, name="backbone_features")
    maps = inputs
    if config.split_layer:
        maps = _backbone_tail(embedder, config.split_layer)(inputs, training=False)

    height, width, channels = maps.shape[1:]
    if config.head == "attention":
        # Starts as plain average pooling (zero logits) and learns where the cover is.
        logits = layers.Conv2D(1, 1, kernel_initializer="zeros", name="attention_logits")(maps)
        weights = layers.Softmax(axis=1, name="attention")(
            layers.Reshape((height * width, 1))(logits)
        )
        values = layers.Reshape((height * width, channels))(maps)
        pooled = layers.Flatten()(layers.Dot(axes=1, name="attention_pool")([weights, values]))
    else:
        pooled = layers.GlobalAveragePooling2D()(maps)

    normalised = layers.UnitNormalization(name="pooled_unit")(pooled)
    projected = layers.Dense(config.dimension, use_bias=False, name="projection")(normalised)
    outputs = layers.UnitNormalization(name="embedding")(projected)
    return keras.Model(inputs, outputs, name="embedding_head")


def _backbone_tail(embedder: Embedder, split_layer: str) -> object:
    import keras

    backbone = embedder.backbone_model
    try:
        start = backbone.get_layer(split_layer).input
    except ValueError as error:
        raise EmbedderError(f"{embedder.spec.name} has no layer {split_layer!r}.") from error
    shared = keras.Model(start, backbone.layers[-1].input)
    # A clone, so that training never changes the embedder's own backbone.
    tail = keras.models.clone_model(shared)
    tail.set_weights(shared.get_weights())
    return tail


@dataclass
class EpochLog:
    """One epoch's mean triplet loss, held-out recall@1 and duration."""

    epoch: int
    loss: float
    validation_recall_at_1: float | None
    seconds: float


class HeadTrainer:
    """Trains an embedding head on a `ViewSet` with a triplet loss; checkpoints every epoch in
    `checkpoint_dir` and resumes from the latest checkpoint there."""

    def __init__(self, embedder: Embedder, config: FinetuneConfig,
                 checkpoint_dir: Path | None = None, progress: bool = True) -> None:
        self.embedder = embedder
        self.config = config
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.progress = progress
        self.history: list[EpochLog] = []
        self.model = None
        self._forward = None

    def fit(self, views: ViewSet) -> HeadTrainer:
        """Train for `config.epochs` epochs (fewer if a checkpoint already holds some)."""
        import keras
        import tensorflow as tf

        config = self.config
        keras.utils.set_random_seed(config.seed)
        tf.config.experimental.enable_op_determinism()
        self.model = build_head(self.embedder, views.features.shape[1:], config)
        self._forward = None
        optimizer = keras.optimizers.Adam(config.learning_rate)
        optimizer.build(self.model.trainable_variables)

        training, validation = self._split_albums(views)
        batches = AlbumBatches(views.labels[training], config.albums_per_batch,
                               config.views_per_album, config.seed)
        first_epoch = self._restore(optimizer)
        step = self._train_step(optimizer)

        bar = tqdm(range(first_epoch, config.epochs), desc="epochs", unit="epoch",
                   initial=first_epoch, total=config.epochs, disable=not self.progress)
        for epoch in bar:
            started = time.perf_counter()
            losses = []
            for batch in batches.epoch(epoch):
                indices = training[batch]
                features = tf.constant(views.features[indices])
                losses.append(float(step(features, tf.constant(views.labels[indices]))))
            recall = self._validation_recall(views, validation)
            entry = EpochLog(epoch + 1, float(np.mean(losses)), recall,
                             round(time.perf_counter() - started, 2))
            self.history.append(entry)
            log.info("finetune epoch %d/%d: loss %.4f, held-out recall@1 %s, %.1f s",
                     entry.epoch, config.epochs, entry.loss,
                     "n/a" if recall is None else f"{recall:.3f}", entry.seconds)
            bar.set_postfix(loss=f"{entry.loss:.4f}",
                            recall=f"{recall:.3f}" if recall is not None else "n/a")
            self._save_checkpoint(optimizer, epoch + 1)
        bar.close()
        return self

    def transform(self, features: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Embeddings (N, dimension) of frozen backbone features, unit length."""
        if self.model is None:
            raise RuntimeError("HeadTrainer.transform needs fit() first.")
        if self._forward is None:
            self._forward = self._compiled_forward()
        outputs = [np.asarray(self._forward(features[start:start + batch_size]))
                   for start in range(0, len(features), batch_size)]
        dimension = self.config.dimension
        return np.concatenate(outputs) if outputs else np.zeros((0, dimension), np.float32)

    def _train_step(self, optimizer: object):  # type: ignore[no-untyped-def]
        import tensorflow as tf

        model, config = self.model, self.config
        # Features travel as float16 (half the memory traffic) and are widened inside the graph.
        signature = [tf.TensorSpec([None, *model.input_shape[1:]], tf.float16),
                     tf.TensorSpec([None], tf.int32)]

        @tf.function(input_signature=signature, reduce_retracing=True, autograph=False)
        def step(features: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
            with tf.GradientTape() as tape:
                # training=False keeps batch-norm statistics of a tuned backbone tail fixed.
                embeddings = model(tf.cast(features, tf.float32), training=False)
                loss = triplet_loss(labels, embeddings, config.margin, config.mining)
            gradients = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(gradients, model.trainable_variables))
            return loss

        return step

    def _compiled_forward(self):  # type: ignore[no-untyped-def]
        import tensorflow as tf

        model = self.model
        signature = [tf.TensorSpec([None, *model.input_shape[1:]], tf.float16)]

        @tf.function(input_signature=signature, reduce_retracing=True, autograph=False)
        def forward(features: tf.Tensor) -> tf.Tensor:
            return model(tf.cast(features, tf.float32), training=False)

        return lambda features: forward(np.asarray(features, dtype=np.float16))

    def _split_albums(self, views: ViewSet) -> tuple[np.ndarray, np.ndarray]:
        # Whole albums are held out, so validation measures albums the head never saw.
        albums = np.unique(views.labels)
        rng = np.random.default_rng([self.config.seed, 1])
        held_out = rng.choice(albums, size=int(len(albums) * self.config.validation_fraction),
                              replace=False)
        is_held_out = np.isin(views.labels, held_out)
        return np.flatnonzero(~is_held_out), np.flatnonzero(is_held_out)

    def _validation_recall(self, views: ViewSet, validation: np.ndarray) -> float | None:
        queries = validation[views.kinds[validation] != CLEAN]
        clean = np.flatnonzero(views.kinds == CLEAN)
        if len(queries) == 0 or len(clean) == 0:
            return None
        similarity = self.transform(views.features[queries]) @ self.transform(
            views.features[clean]).T
        nearest = views.labels[clean][np.argmax(similarity, axis=1)]
        return float(np.mean(nearest == views.labels[queries]))

    def _checkpoint_path(self) -> Path | None:
        return self.checkpoint_dir / "checkpoint.npz" if self.checkpoint_dir else None

    def _save_checkpoint(self, optimizer: object, epochs_done: int) -> None:
        path = self._checkpoint_path()
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f"model_{i}": array for i, array in enumerate(self.model.get_weights())}
        arrays.update({f"optimizer_{i}": np.asarray(variable)
                       for i, variable in enumerate(optimizer.variables)})
        history = json.dumps([dataclasses.asdict(entry) for entry in self.history])
        partial = path.with_name("checkpoint.partial.npz")
        np.savez(partial, epochs_done=epochs_done, history=history, **arrays)
        os.replace(partial, path)

    def _restore(self, optimizer: object) -> int:
        path = self._checkpoint_path()
        if path is None or not path.is_file():
            return 0
        with np.load(path) as data:
            weights = [data[f"model_{i}"] for i in range(len(self.model.get_weights()))]
            self.model.set_weights(weights)
            for i, variable in enumerate(optimizer.variables):
                variable.assign(data[f"optimizer_{i}"])
            epochs_done = int(data["epochs_done"])
            self.history = [EpochLog(**entry) for entry in json.loads(str(data["history"]))]
        log.info("finetune: resumed from %s after epoch %d", path, epochs_done)
        return min(epochs_done, self.config.epochs)


@dataclass
class FinetuneReport:
    """What a fine-tuning run made: the saved head, its data and its training history."""

    version: str
    path: Path
    albums: int
    views: dict[str, int]
    history: list[EpochLog]
    seconds: float
    trainer: HeadTrainer = field(repr=False)
    view_set: ViewSet = field(repr=False)
    extractor: ViewExtractor = field(repr=False)

    def summary(self) -> str:
        last = self.history[-1] if self.history else None
        recall = "" if last is None or last.validation_recall_at_1 is None else (
            f", held-out recall@1 {last.validation_recall_at_1:.3f}"
        )
        loss = f"final loss {last.loss:.4f}{recall}" if last else "no epochs"
        views = ", ".join(f"{count} {kind}" for kind, count in self.views.items())
        return (f"embedding head {self.version}: {self.albums} albums, views {views}; "
                f"{len(self.history)} epochs, {loss}; {self.seconds:.0f} s; saved in {self.path}")


def finetune(
    albums: Sequence[TrainingAlbum],
    embedder: Embedder,
    models_dir: Path,
    cache_dir: Path,
    config: FinetuneConfig | None = None,
    version: str | None = None,
    progress: bool = True,
) -> FinetuneReport:
    """Train an embedding head on `albums` and save it as `models_dir/<version>/`."""
    config = config or FinetuneConfig()
    started = time.perf_counter()
    if embedder.head is not None:
        raise EmbedderError("Fine-tuning starts from the plain backbone; load the embedder "
                            "without a head (unset VINYLPRICE_EMBEDDING_HEAD).")
    if len(albums) < 2:
        raise ValueError(f"Fine-tuning needs at least 2 albums; got {len(albums)}.")

    clutter = [path for album in albums for path in album.references[:1]]
    extractor = ViewExtractor(embedder, config, Path(cache_dir), clutter, progress)
    views = extractor.extract(albums)
    counts = {name: int(np.sum(views.kinds == kind))
              for name, kind in (("clean", CLEAN), ("augmented", AUGMENTED), ("photo", PHOTO))}
    log.info("finetune: %d albums, views %s", len(albums), counts)

    run_key = _digest([extractor._shard_key(albums), config.as_dict() | {"epochs": None}])
    trainer = HeadTrainer(embedder, config, Path(cache_dir) / f"run-{run_key}", progress)
    trainer.fit(views)

    version = version or "ft-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = save_head(trainer, embedder, Path(models_dir) / version, version, {
        "albums": len(albums), "views": counts,
        "history": [dataclasses.asdict(entry) for entry in trainer.history],
    })
    return FinetuneReport(version, path, len(albums), counts, trainer.history,
                          time.perf_counter() - started, trainer, views, extractor)


def save_head(trainer: HeadTrainer, embedder: Embedder, folder: Path, version: str,
              details: dict) -> Path:
    """Write head.keras and its manifest; the folder appears complete or not at all."""
    import keras

    if (folder / HEAD_FILE).exists():
        raise FileExistsError(f"An embedding head already exists at {folder}; choose another "
                              "version name.")
    partial = folder.with_name(folder.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    trainer.model.save(partial / HEAD_FILE)
    saved = keras.saving.load_model(partial / HEAD_FILE, compile=False)
    manifest = {
        "version": version,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "backbone": embedder.spec.name,
        "backbone_fingerprint": embedder.backbone_fingerprint,
        "weights": embedder.weights,
        "split_layer": trainer.config.split_layer,
        "head_digest": weights_digest(saved),
        "dimension": trainer.config.dimension,
        "config": trainer.config.as_dict(),
        **details,
    }
    (partial / HEAD_MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
    os.replace(partial, folder)
    log.info("finetune: saved head %s (%s) in %s", version, manifest["head_digest"], folder)
    return folder


def image_files(folder: Path) -> list[Path]:
    """The image files directly in `folder`, sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)

