"""Embed: a Keras ImageNet backbone without its top turns an image into a unit vector.

The `Embedder` loads the backbone once, runs it as a compiled graph over fixed-size batches,
and reports a fingerprint (backbone name + hash of the weights) that every index build records,
so vectors from different weights are never compared. An optional fine-tuned head (made by
`vinylprice finetune`) replaces the backbone's average pooling; its hash joins the fingerprint.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)


class EmbedderError(RuntimeError):
    """The backbone or its weights cannot be loaded."""


@dataclass(frozen=True)
class Backbone:
    """How to build one Keras application and prepare its input."""

    name: str
    builder: str
    module: str
    input_size: int = 224
    options: tuple[tuple[str, object], ...] = ()


BACKBONES: dict[str, Backbone] = {
    "mobilenet_v2": Backbone("mobilenet_v2", "MobileNetV2", "mobilenet_v2", 224, (("alpha", 1.0),)),
    "mobilenet_0.25": Backbone("mobilenet_0.25", "MobileNet", "mobilenet", 224, (("alpha", 0.25),)),
    "mobilenet": Backbone("mobilenet", "MobileNet", "mobilenet", 224, (("alpha", 1.0),)),
    "efficientnet_b0": Backbone("efficientnet_b0", "EfficientNetB0", "efficientnet", 224),
    "resnet50": Backbone("resnet50", "ResNet50", "resnet50", 224),
}


HEAD_FILE = "head.keras"
HEAD_MANIFEST = "manifest.json"


@dataclass(frozen=True)
class EmbeddingHead:
    """A fine-tuned head: a Keras model fed by the backbone's output or by one of its layers."""

    version: str
    path: Path
    model: object
    digest: str
    backbone_fingerprint: str
    split_layer: str | None

    @property
    def fingerprint(self) -> str:
        return f"head:{self.version}:{self.digest}"

    def attach(self, backbone: object) -> object:
        """One Keras model: the frozen backbone up to the split, then this head."""
        import keras

        # Without a split layer the head replaces the final pooling layer.
        layer = backbone.get_layer(self.split_layer) if self.split_layer else backbone.layers[-1]
        features = layer.input
        expected = tuple(self.model.input_shape[1:])
        if tuple(features.shape[1:]) != expected:
            raise EmbedderError(
                f"Embedding head {self.version} expects input {expected}, but the backbone gives "
                f"{tuple(features.shape[1:])} at {layer.name!r}."
            )
        return keras.Model(backbone.input, self.model(features))


class Embedder:
    """Maps RGB images to L2-normalised float32 vectors with a pretrained Keras backbone."""

    def __init__(self, backbone: str = "mobilenet_v2", weights: str = "imagenet",
                 batch_size: int = 32, head: str | Path | None = None) -> None:
        if backbone not in BACKBONES:
            raise EmbedderError(
                f"Unknown backbone {backbone!r}; expected one of {', '.join(BACKBONES)}."
            )
        if weights != "imagenet" and not Path(weights).is_file():
            raise EmbedderError(
                f"Weights file not found: {weights}. Set VINYLPRICE_WEIGHTS to 'imagenet' "
                "(downloads Keras's own file) or to a local weights file."
            )
        self.spec = BACKBONES[backbone]
        self.weights = weights
        self.batch_size = batch_size
        self.input_size = self.spec.input_size
        self._model, self._preprocess = _build(self.spec, weights)
        self.backbone_fingerprint = f"{self.spec.name}:{weights_digest(self._model)}"
        self.head = load_head(Path(head), self.backbone_fingerprint) if head else None
        network = self.head.attach(self._model) if self.head else self._model
        self.dimension = int(network.output_shape[-1])
        self.fingerprint = self.backbone_fingerprint
        if self.head:
            self.fingerprint += f"+{self.head.fingerprint}"
        self._forward = _compile(network, self.input_size)
        self.embed_batch(np.zeros((1, self.input_size, self.input_size, 3), np.float32))
        log.info("embedder ready: %s, %d-d", self.fingerprint, self.dimension)

    @property
    def backbone_model(self) -> object:
        """The Keras backbone; shared, so clone it before training any of its layers."""
        return self._model

    def prepare(self, image: Image.Image) -> np.ndarray:
        """Resize an RGB image to the backbone's input, as float32 (H, W, 3) in 0–255."""
        resized = image.convert("RGB").resize(
            (self.input_size, self.input_size), Image.Resampling.BILINEAR
        )
        return np.asarray(resized, dtype=np.float32)

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Vectors for `images`, shape (len(images), dimension), each of unit length."""
        return self.embed_arrays(self.prepare(image) for image in images)

    def embed_arrays(self, arrays: Iterable[np.ndarray]) -> np.ndarray:
        """Vectors for already-prepared (H, W, 3) arrays, batched."""
        outputs, batch = [], []
        for array in arrays:
            batch.append(array)
            if len(batch) == self.batch_size:
                outputs.append(self.embed_batch(np.stack(batch)))
                batch = []
        if batch:
            outputs.append(self.embed_batch(np.stack(batch)))
        if not outputs:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.concatenate(outputs)

    def embed_batch(self, batch: np.ndarray) -> np.ndarray:
        """One forward pass over an (N, H, W, 3) float32 batch."""
        vectors = np.asarray(self._forward(self._preprocess(batch)))
        return l2_normalise(vectors)

    def feature_extractor(self, split_layer: str | None = None) -> Callable[[np.ndarray],
                                                                            np.ndarray]:
        """A compiled function from an (N, H, W, 3) 0–255 batch to the backbone's feature maps
        before pooling, or to the input of `split_layer` (what a fine-tuned head consumes)."""
        import keras

        try:
            layer = self._model.get_layer(split_layer) if split_layer else self._model.layers[-1]
        except ValueError as error:
            raise EmbedderError(
                f"{self.spec.name} has no layer {split_layer!r}; expected a layer name of "
                "its Keras application."
            ) from error
        forward = _compile(keras.Model(self._model.input, layer.input), self.input_size)
        return lambda batch: np.asarray(forward(self._preprocess(batch)))


def embedder_from_settings(settings: object) -> Embedder:
    """The embedder `settings` configure: backbone, weights, batch size and fine-tuned head."""
    head = resolve_head(settings.embedding_head, settings.models_dir)
    return Embedder(settings.backbone, settings.weights, settings.embed_batch_size, head)


def resolve_head(reference: str | None, models_dir: Path) -> Path | None:
    """The head folder that `reference` (a path, or a version name under `models_dir`) names."""
    if not reference:
        return None
    for candidate in (Path(reference), Path(models_dir) / reference):
        if (candidate / HEAD_FILE).is_file():
            return candidate
        if candidate.is_file() and candidate.name == HEAD_FILE:
            return candidate.parent
    available = sorted(p.parent.name for p in Path(models_dir).glob(f"*/{HEAD_FILE}"))
    raise EmbedderError(
        f"Embedding head {reference!r} not found as a path or under {models_dir}; available: "
        f"{', '.join(available) or 'none'}. Run `vinylprice finetune` or unset "
        "VINYLPRICE_EMBEDDING_HEAD."
    )


def load_head(folder: Path, backbone_fingerprint: str) -> EmbeddingHead:
    """Load a fine-tuned head saved by `vinylprice finetune`, refusing one made for another
    backbone or whose weights differ from its manifest."""
    import keras

    folder = folder.parent if folder.name == HEAD_FILE else folder
    try:
        manifest = json.loads((folder / HEAD_MANIFEST).read_text())
        model = keras.saving.load_model(folder / HEAD_FILE, compile=False)
    except (OSError, ValueError) as error:
        raise EmbedderError(f"Could not load the embedding head in {folder}: {error}") from error

    head = EmbeddingHead(
        version=str(manifest.get("version", folder.name)),
        path=folder,
        model=model,
        digest=weights_digest(model),
        backbone_fingerprint=str(manifest.get("backbone_fingerprint")),
        split_layer=manifest.get("split_layer"),
    )
    if head.backbone_fingerprint != backbone_fingerprint:
        raise EmbedderError(
            f"Embedding head {head.version} was trained on {head.backbone_fingerprint}, but the "
            f"loaded backbone is {backbone_fingerprint}; use the backbone and weights it was "
            "trained with, or another head."
        )
    if manifest.get("head_digest") not in (None, head.digest):
        raise EmbedderError(
            f"Embedding head {head.version} has weights {head.digest}, but its manifest records "
            f"{manifest['head_digest']}; the files in {folder} do not belong together."
        )
    return head


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def _build(spec: Backbone, weights: str) -> tuple[object, Callable[[np.ndarray], np.ndarray]]:
    import keras

    application = getattr(keras.applications, spec.builder)
    preprocess = getattr(keras.applications, spec.module).preprocess_input
    try:
        model = application(
            include_top=False,
            weights=weights,
            input_shape=(spec.input_size, spec.input_size, 3),
            pooling="avg",
            **dict(spec.options),
        )
    except Exception as error:  # Keras raises several types for missing or mismatched files
        raise EmbedderError(
            f"Could not load {spec.name} weights from {weights!r}: {error}"
        ) from error
    return model, lambda batch: preprocess(np.array(batch, dtype=np.float32, copy=True))


def _compile(model: object, input_size: int) -> Callable[[np.ndarray], np.ndarray]:
    import tensorflow as tf

    signature = [tf.TensorSpec([None, input_size, input_size, 3], tf.float32)]

    @tf.function(input_signature=signature, reduce_retracing=True)
    def forward(batch: tf.Tensor) -> tf.Tensor:
        return model(batch, training=False)

    return forward


def weights_digest(model: object) -> str:
    """A short SHA-256 of all weights of a Keras model, in layer order."""
    digest = hashlib.sha256()
    for array in model.get_weights():
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]
