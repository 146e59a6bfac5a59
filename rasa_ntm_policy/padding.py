"""Padding shared by NTMPolicy and REDPPolicy: dialogues of different lengths in one batch, and
prediction lengths rounded up so that few programs are ever compiled."""
from typing import List, Sequence

import numpy as np
import tensorflow as tf

PAD_LABEL = -1


def pad_labels(labels: Sequence[Sequence[int]], length: int) -> np.ndarray:
    """[B, length] label ids, PAD_LABEL after each dialogue's end (cut at length)."""
    padded = np.full([len(labels), length], PAD_LABEL, np.int32)
    for b, ids in enumerate(labels):
        ids = list(ids)[:length]
        padded[b, :len(ids)] = ids
    return padded


def active_turns(labels: tf.Tensor) -> tf.Tensor:
    """labels [B,T] (PAD_LABEL after each dialogue's end) -> the longest dialogue's length."""
    return tf.reduce_max(tf.reduce_sum(tf.cast(labels != PAD_LABEL, tf.int32), axis=1))


def bucket_length(num_turns: int, smallest: int = 16) -> int:
    """The padded length a dialogue of num_turns is predicted at: the next power of two, at
    least smallest."""
    length = smallest
    while length < num_turns:
        length *= 2
    return length


__all__: List[str] = ["PAD_LABEL", "pad_labels", "active_turns", "bucket_length"]
