"""Triplets: batches of P albums × K views, the mining of triplets in them, and the loss.

For each anchor view, mining picks a positive (another view of the same album) and a negative
(a view of another album); the triplet loss asks the anchor to be nearer the positive than the
negative by a margin. Batch-hard mining takes the farthest positive and the nearest negative of
each anchor; semi-hard mining takes, for every anchor–positive pair, the nearest negative that is
still farther than the positive (FaceNet's choice, which avoids collapsing on noisy hard cases).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import tensorflow as tf

MINING = ("batch_hard", "semi_hard")


def pairwise_distances(embeddings: tf.Tensor) -> tf.Tensor:
    """Euclidean distances between all rows of `embeddings` (N, D), shape (N, N)."""
    embeddings = tf.convert_to_tensor(embeddings, tf.float32)
    squared_norms = tf.reduce_sum(tf.square(embeddings), axis=1)
    squared = (squared_norms[:, None] - 2.0 * tf.matmul(embeddings, embeddings, transpose_b=True)
               + squared_norms[None, :])
    # Rounding leaves tiny non-zero self-distances; a view is at distance 0 from itself.
    squared = tf.linalg.set_diag(tf.maximum(squared, 0.0), tf.zeros_like(squared_norms))
    # sqrt has an infinite gradient at 0 (the diagonal); add a tiny epsilon only there.
    zeros = tf.cast(tf.equal(squared, 0.0), tf.float32)
    return tf.sqrt(squared + zeros * 1e-16) * (1.0 - zeros)


def label_masks(labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Boolean (N, N) masks: same album and not the same view; different album."""
    labels = tf.reshape(tf.convert_to_tensor(labels), [-1])
    same = tf.equal(labels[:, None], labels[None, :])
    not_self = tf.logical_not(tf.eye(tf.shape(labels)[0], dtype=tf.bool))
    return tf.logical_and(same, not_self), tf.logical_not(same)


def batch_hard_mining(distances: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor,
                                                                        tf.Tensor]:
    """Per anchor: index of its farthest positive, of its nearest negative, and whether both
    exist."""
    positive_mask, negative_mask = label_masks(labels)
    largest = tf.reduce_max(distances) + 1.0
    positive = tf.argmax(tf.where(positive_mask, distances, -1.0), axis=1, output_type=tf.int32)
    negative = tf.argmin(tf.where(negative_mask, distances, largest), axis=1,
                         output_type=tf.int32)
    valid = tf.logical_and(tf.reduce_any(positive_mask, axis=1),
                           tf.reduce_any(negative_mask, axis=1))
    return positive, negative, valid


def semi_hard_mining(distances: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Per anchor–positive pair (a, p): the nearest negative farther than p from a (or, if every
    negative is nearer, the farthest one); returns (N, N) negative indices and the pair mask."""
    positive_mask, negative_mask = label_masks(labels)
    largest = tf.reduce_max(distances) + 1.0
    anchor_negative = distances[:, None, :]
    anchor_positive = distances[:, :, None]
    farther = tf.logical_and(negative_mask[:, None, :], anchor_negative > anchor_positive)
    semi_hard = tf.argmin(tf.where(farther, anchor_negative, largest), axis=2,
                          output_type=tf.int32)
    easiest = tf.argmax(tf.where(negative_mask, distances, -1.0), axis=1, output_type=tf.int32)
    has_semi_hard = tf.reduce_any(farther, axis=2)
    negative = tf.where(has_semi_hard, semi_hard, easiest[:, None])
    has_negative = tf.reduce_any(negative_mask, axis=1, keepdims=True)
    return negative, tf.logical_and(positive_mask, has_negative)


def triplet_loss(labels: tf.Tensor, embeddings: tf.Tensor, margin: float = 0.2,
                 mining: str = "batch_hard") -> tf.Tensor:
    """Mean hinge max(0, d(a, p) − d(a, n) + margin) over the mined triplets of a batch."""
    if mining not in MINING:
        raise ValueError(f"Unknown mining {mining!r}; expected one of {', '.join(MINING)}.")
    distances = pairwise_distances(embeddings)
    if mining == "batch_hard":
        positive, negative, valid = batch_hard_mining(distances, labels)
        positive_distance = tf.gather(distances, positive, batch_dims=1)
        negative_distance = tf.gather(distances, negative, batch_dims=1)
        losses = tf.nn.relu(positive_distance - negative_distance + margin)
        weights = tf.cast(valid, tf.float32)
    else:
        negative, pairs = semi_hard_mining(distances, labels)
        negative_distance = tf.gather(distances, negative, batch_dims=1)
        losses = tf.nn.relu(distances - negative_distance + margin)
        weights = tf.cast(pairs, tf.float32)
    return tf.reduce_sum(losses * weights) / tf.maximum(tf.reduce_sum(weights), 1.0)


class AlbumBatches:
    """Shuffled batches of `albums_per_batch` albums × up to `views_per_album` views each.

    Only albums with at least two views take part (a lone view has no positive). Each epoch
    visits every such album once; the order comes from `seed` and the epoch number alone.
    """

    def __init__(self, labels: np.ndarray, albums_per_batch: int, views_per_album: int,
                 seed: int) -> None:
        if albums_per_batch < 2 or views_per_album < 2:
            raise ValueError(
                f"Batches need at least 2 albums × 2 views; got {albums_per_batch} × "
                f"{views_per_album}."
            )
        labels = np.asarray(labels)
        order = np.argsort(labels, kind="stable")
        albums, starts, counts = np.unique(labels[order], return_index=True, return_counts=True)
        self.views = {int(album): order[start:start + count]
                      for album, start, count in zip(albums, starts, counts) if count >= 2}
        if len(self.views) < 2:
            raise ValueError(
                f"Need at least 2 albums with 2 or more views each; found {len(self.views)}."
            )
        self.albums = np.array(sorted(self.views))
        self.albums_per_batch = min(albums_per_batch, len(self.albums))
        self.views_per_album = views_per_album
        self.seed = seed

    def __len__(self) -> int:
        return len(self.albums) // self.albums_per_batch

    def epoch(self, number: int) -> Iterator[np.ndarray]:
        """The batches of epoch `number`, as arrays of view indices."""
        rng = np.random.default_rng([self.seed, number])
        shuffled = rng.permutation(self.albums)
        for batch in range(len(self)):
            chosen = shuffled[batch * self.albums_per_batch:(batch + 1) * self.albums_per_batch]
            indices = []
            for album in chosen:
                views = self.views[int(album)]
                take = min(self.views_per_album, len(views))
                indices.append(rng.choice(views, size=take, replace=False))
            yield np.concatenate(indices)
