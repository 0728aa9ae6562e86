"""Triplet loss and mining, checked against brute force over every triplet of small batches."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from vinylprice.learn.triplets import (
    AlbumBatches,
    batch_hard_mining,
    pairwise_distances,
    semi_hard_mining,
    triplet_loss,
)


def unit_rows(rng: np.random.Generator, count: int, dimension: int) -> np.ndarray:
    rows = rng.normal(size=(count, dimension)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def brute_distances(embeddings: np.ndarray) -> np.ndarray:
    return np.linalg.norm(embeddings[:, None, :] - embeddings[None, :, :], axis=2)


@pytest.fixture
def batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 3], np.int32)
    return labels, unit_rows(rng, len(labels), 8)


def test_pairwise_distances_match_numpy_and_have_finite_gradients(batch) -> None:
    _, embeddings = batch
    tensor = tf.constant(embeddings)
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        distances = pairwise_distances(tensor)
        total = tf.reduce_sum(distances)
    gradient = tape.gradient(total, tensor).numpy()

    np.testing.assert_allclose(distances.numpy(), brute_distances(embeddings), atol=1e-5)
    assert np.all(np.diag(distances.numpy()) == 0)
    assert np.all(np.isfinite(gradient))


def test_batch_hard_mining_picks_farthest_positive_and_nearest_negative(batch) -> None:
    labels, embeddings = batch
    distances = brute_distances(embeddings)

    positive, negative, valid = batch_hard_mining(tf.constant(distances), tf.constant(labels))

    for anchor, label in enumerate(labels):
        positives = [i for i in range(len(labels)) if labels[i] == label and i != anchor]
        negatives = [i for i in range(len(labels)) if labels[i] != label]
        assert bool(valid[anchor]) == bool(positives)
        if positives:
            assert int(positive[anchor]) == max(positives, key=lambda i: distances[anchor, i])
        assert int(negative[anchor]) == min(negatives, key=lambda i: distances[anchor, i])


def test_semi_hard_mining_picks_nearest_negative_beyond_the_positive(batch) -> None:
    labels, embeddings = batch
    distances = brute_distances(embeddings)

    negative, pairs = semi_hard_mining(tf.constant(distances), tf.constant(labels))

    for anchor, other in itertools.product(range(len(labels)), repeat=2):
        is_pair = labels[anchor] == labels[other] and anchor != other
        assert bool(pairs[anchor, other]) == is_pair
        if not is_pair:
            continue
        negatives = [i for i in range(len(labels)) if labels[i] != labels[anchor]]
        farther = [i for i in negatives if distances[anchor, i] > distances[anchor, other]]
        expected = (min(farther, key=lambda i: distances[anchor, i]) if farther
                    else max(negatives, key=lambda i: distances[anchor, i]))
        assert int(negative[anchor, other]) == expected


def test_batch_hard_loss_equals_brute_force(batch) -> None:
    labels, embeddings = batch
    distances = brute_distances(embeddings)
    margin = 0.3
    hinges = []
    for anchor, label in enumerate(labels):
        positives = [distances[anchor, i] for i in range(len(labels))
                     if labels[i] == label and i != anchor]
        if positives:
            negatives = [distances[anchor, i] for i in range(len(labels)) if labels[i] != label]
            hinges.append(max(0.0, max(positives) - min(negatives) + margin))

    loss = triplet_loss(tf.constant(labels), tf.constant(embeddings), margin, "batch_hard")

    assert float(loss) == pytest.approx(np.mean(hinges), abs=1e-5)


def test_semi_hard_loss_equals_brute_force(batch) -> None:
    labels, embeddings = batch
    distances = brute_distances(embeddings)
    margin = 0.5
    hinges = []
    for anchor, other in itertools.product(range(len(labels)), repeat=2):
        if labels[anchor] != labels[other] or anchor == other:
            continue
        negatives = [distances[anchor, i] for i in range(len(labels))
                     if labels[i] != labels[anchor]]
        farther = [d for d in negatives if d > distances[anchor, other]]
        chosen = min(farther) if farther else max(negatives)
        hinges.append(max(0.0, distances[anchor, other] - chosen + margin))

    loss = triplet_loss(tf.constant(labels), tf.constant(embeddings), margin, "semi_hard")

    assert float(loss) == pytest.approx(np.mean(hinges), abs=1e-5)


def test_loss_is_zero_for_well_separated_albums_and_positive_for_mixed_ones() -> None:
    labels = tf.constant([0, 0, 1, 1])
    separated = tf.constant([[1.0, 0.0], [0.99, 0.141], [-1.0, 0.0], [-0.99, 0.141]])
    mixed = tf.constant([[1.0, 0.0], [-1.0, 0.0], [0.99, 0.141], [-0.99, 0.141]])

    for mining in ("batch_hard", "semi_hard"):
        assert float(triplet_loss(labels, separated, 0.2, mining)) == 0.0
        assert float(triplet_loss(labels, mixed, 0.2, mining)) > 0.1


def test_gradient_descent_on_the_loss_pulls_albums_apart() -> None:
    rng = np.random.default_rng(3)
    labels = tf.constant(np.repeat(np.arange(4), 3).astype(np.int32))
    points = tf.Variable(unit_rows(rng, 12, 4))
    optimizer = tf.keras.optimizers.SGD(0.1)
    losses = []
    for _ in range(60):
        with tf.GradientTape() as tape:
            loss = triplet_loss(labels, tf.math.l2_normalize(points, axis=1), 0.2, "batch_hard")
        optimizer.apply_gradients([(tape.gradient(loss, points), points)])
        losses.append(float(loss))

    assert losses[-1] < losses[0] / 2


def test_unknown_mining_is_refused() -> None:
    with pytest.raises(ValueError, match="batch_hard"):
        triplet_loss(tf.constant([0, 1]), tf.constant([[1.0], [0.0]]), mining="hardest")


def test_album_batches_hold_albums_with_two_views_and_are_reproducible() -> None:
    labels = np.array([5, 5, 5, 5, 7, 7, 9, 2, 2, 2, 4, 4])
    batches = AlbumBatches(labels, albums_per_batch=2, views_per_album=3, seed=11)

    first = [batch.tolist() for batch in batches.epoch(0)]
    again = [batch.tolist() for batch in AlbumBatches(labels, 2, 3, 11).epoch(0)]
    later = [batch.tolist() for batch in batches.epoch(1)]

    assert first == again
    assert first != later or len(first) == 1
    assert len(first) == len(batches) == 2
    seen = [int(labels[i]) for batch in first for i in batch]
    assert 9 not in seen
    for batch in first:
        counts = np.unique(labels[batch], return_counts=True)[1]
        assert len(counts) == 2 and all(2 <= count <= 3 for count in counts)
        assert len(set(batch)) == len(batch)


def test_album_batches_refuse_data_without_positives() -> None:
    with pytest.raises(ValueError, match="2 or more views"):
        AlbumBatches(np.array([1, 2, 3, 3]), 2, 2, seed=0)
