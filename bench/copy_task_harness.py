"""The NTM paper's copy task (Graves et al. 2014, section 4.1), as a seeded training harness.

A sequence of random 8-bit vectors, then a delimiter, then the model must output the sequence
from memory. All sequences of a run are padded to one length (2 * max_length + 1 steps) so the
training step compiles once with XLA; a mask keeps only each sequence's output steps in the loss.
Used by bench/copy_task.py and tests/ntm/test_copy_task.py.
"""
from typing import Dict, List, NamedTuple, Tuple

import numpy as np
import tensorflow as tf

from rasa_ntm_policy.ntm.cell import NTMCell

BITS = 8


class CopyBatch(NamedTuple):
    inputs: np.ndarray  # [B, T, BITS + 1], the last channel marks the delimiter
    targets: np.ndarray  # [B, T, BITS]
    mask: np.ndarray  # [B, T], 1 on the steps where the copy is output


def make_batch(rng: np.random.Generator, batch_size: int, min_length: int, max_length: int,
               total_steps: int = None) -> CopyBatch:
    """A batch of copy sequences with lengths drawn uniformly from min_length..max_length."""
    steps = total_steps or 2 * max_length + 1
    inputs = np.zeros([batch_size, steps, BITS + 1], np.float32)
    targets = np.zeros([batch_size, steps, BITS], np.float32)
    mask = np.zeros([batch_size, steps], np.float32)
    lengths = rng.integers(min_length, max_length + 1, size=batch_size)
    for b, length in enumerate(lengths):
        bits = rng.integers(0, 2, size=[length, BITS]).astype(np.float32)
        inputs[b, :length, :BITS] = bits
        inputs[b, length, BITS] = 1.0
        targets[b, length + 1:2 * length + 1] = bits
        mask[b, length + 1:2 * length + 1] = 1.0
    return CopyBatch(inputs, targets, mask)


def build_model(kind: str, units: int, memory_slots: int = 128, memory_width: int = 20,
                shift_range: int = 1) -> tf.keras.Model:
    """An NTM ('ntm') or plain LSTM ('lstm') sequence model with a linear 8-bit output."""
    if kind == "ntm":
        cell = NTMCell(units=units, memory_slots=memory_slots, memory_width=memory_width,
                       shift_range=shift_range)
    elif kind == "lstm":
        cell = tf.keras.layers.LSTMCell(units)
    else:
        raise ValueError(f"unknown model kind {kind!r}")
    inputs = tf.keras.Input([None, BITS + 1])
    hidden = tf.keras.layers.RNN(cell, return_sequences=True)(inputs)
    return tf.keras.Model(inputs, tf.keras.layers.Dense(BITS)(hidden), name=kind)


def masked_loss(logits: tf.Tensor, targets: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Mean sigmoid cross-entropy per bit over the output steps."""
    per_bit = tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits)
    return tf.reduce_sum(per_bit * mask[..., None]) / (tf.reduce_sum(mask) * BITS)


def bit_errors(model: tf.keras.Model, batch: CopyBatch) -> float:
    """Mean number of wrong bits per sequence."""
    logits = model(batch.inputs).numpy()
    wrong = ((logits > 0) != (batch.targets > 0.5)) * batch.mask[..., None]
    return float(wrong.sum() / batch.inputs.shape[0])


def train(model: tf.keras.Model, steps: int, seed: int, batch_size: int = 16,
          min_length: int = 1, max_length: int = 5, learning_rate: float = 1e-3,
          log_every: int = 50) -> List[Tuple[int, float]]:
    """Trains with Adam (gradient norm clipped at 10); returns [(step, mean loss since last)]."""
    rng = np.random.default_rng(seed)
    optimizer = tf.keras.optimizers.Adam(learning_rate, clipnorm=10.0)

    @tf.function(jit_compile=True)
    def train_step(inputs, targets, mask):
        with tf.GradientTape() as tape:
            loss = masked_loss(model(inputs, training=True), targets, mask)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    curve, running = [], []
    for step in range(1, steps + 1):
        batch = make_batch(rng, batch_size, min_length, max_length)
        running.append(float(train_step(batch.inputs, batch.targets, batch.mask)))
        if step % log_every == 0 or step == steps:
            curve.append((step, float(np.mean(running))))
            running = []
    return curve


def seed_everything(seed: int) -> None:
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def evaluate(model: tf.keras.Model, lengths: List[int], seed: int,
             batch_size: int = 64) -> Dict[int, float]:
    """Bit errors per sequence at each exact length."""
    rng = np.random.default_rng(seed)
    return {length: bit_errors(model, make_batch(rng, batch_size, length, length))
            for length in lengths}
