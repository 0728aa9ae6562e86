"""Embed: a Keras ImageNet backbone without its top turns an image into a unit vector.

The `Embedder` loads the backbone once, runs it as a compiled graph over fixed-size batches,
and reports a fingerprint (backbone name + hash of the weights) that every index build records,
so vectors from different weights are never compared.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

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


class Embedder:
    """Maps RGB images to L2-normalised float32 vectors with a pretrained Keras backbone."""

    def __init__(self, backbone: str = "mobilenet_v2", weights: str = "imagenet",
                 batch_size: int = 32) -> None:
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
        self.dimension = int(self._model.output_shape[-1])
        self.fingerprint = f"{self.spec.name}:{_weights_digest(self._model)}"
        self._forward = _compile(self._model, self.input_size)
        self.embed_batch(np.zeros((1, self.input_size, self.input_size, 3), np.float32))
        log.info("embedder ready: %s, %d-d", self.fingerprint, self.dimension)

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


def _weights_digest(model: object) -> str:
    digest = hashlib.sha256()
    for array in model.get_weights():
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]
