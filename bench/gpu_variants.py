"""Other ways to write the NTM memory step, timed on the GPU beside the library's (gpu_export.py).

rasa_ntm_policy.ntm.memory_step, written directly, makes four passes over the memory [B, N, W]:
the write head's similarities, the write, the read heads' similarities on the new memory, the
read. These variants compute the same step (one write head) with fewer passes or another
layout. They are measurements, not the library: on this project's 2-core CPU, where the policy
runs, the two-pass forms took as long as the direct form at batch 1 and 17-24 % longer at
batch 8 and 256 (README, "The memory kernels on a GPU").

Two passes. With one write head, every sum the read heads need over the new memory
M' = M * (1 - w e) + w a is a sum over the old memory M:

  M'(n) . k = M(n) . k + w(n) (a . k - M(n) . (e * k))
  |M'(n)|^2 = |M(n)|^2 + w(n) P(n) + w(n)^2 (Q(n) + |a|^2),
              P = 2 M . a - 2 M^2 . e,  Q = M^2 . e^2 - 2 M . (e * a)
  sum_n r(n) M'(n): summed in the pass that writes M'

so one pass computes 4 + 2 Hr sums per slot (one reduction over W of M and M^2 against stacked
vectors) and a second writes M' and reads it. The expanded squared norm is clamped at 0.

Slots minor. The memory stored [B, W, N]: sums over W run over the middle axis, the read and
the softmaxes over the minor one.

Shapes: B batch, N slots, W slot width, Hr read heads, K stacked sums.
"""
import tensorflow as tf
from tensorflow.compiler.tf2xla.python import xla

from rasa_ntm_policy.ntm import addressing
from rasa_ntm_policy.ntm.heads import HeadParameters, head_parameters
from rasa_ntm_policy.ntm.step import MemoryStepResult, erase_and_add


@tf.custom_gradient
def materialized(x):
    """x, computed once where XLA compiles it (an optimization barrier keeps XLA from fusing a
    copy of its producer into every consumer); identity gradient."""
    return xla.optimization_barrier(x)[0], lambda dy: dy


def stacked_vectors(keys_write, keys_read, erase, add):
    """The (u_k, v_k) pairs of the two-pass form: s_k(n) = M(n) . u_k + M(n)^2 . v_k.

    Args:
      keys_write: [B, W]; keys_read: [B, Hr, W]; erase, add: [B, W].
    Returns:
      ([B, K, W] linear, [B, K, W] square), K = 4 + 2 Hr, in the order: write key, |M|^2, P, Q,
      read keys, erased read keys.
    """
    zeros = tf.zeros_like(erase)[:, None]
    linear = tf.concat([keys_write[:, None], zeros, 2.0 * add[:, None],
                        -2.0 * (erase * add)[:, None], keys_read, erase[:, None] * keys_read], 1)
    square = tf.concat([zeros, tf.ones_like(erase)[:, None], -2.0 * erase[:, None],
                        tf.square(erase)[:, None], tf.zeros_like(keys_read),
                        tf.zeros_like(keys_read)], 1)
    return linear, square


def read_similarities(sums, write_weights, erase, add, keys_read):
    """The read heads' dot products with, and squared norms of, the written slots.

    Args:
      sums: [B, K, N] the stacked sums over the old memory (stacked_vectors' order);
      write_weights: [B, N]; erase, add: [B, W]; keys_read: [B, Hr, W].
    Returns:
      ([B, Hr, N] key . M'(n), [B, N] |M'(n)|^2).
    """
    hr = keys_read.shape[1]
    w = write_weights
    add_dot_read = tf.reduce_sum(add[:, None, :] * keys_read, -1)  # [B, Hr]
    dot_read = sums[:, 4:4 + hr] + w[:, None, :] * (add_dot_read[:, :, None] - sums[:, 4 + hr:])
    squares = sums[:, 1] + w * sums[:, 2] + tf.square(w) * (
        sums[:, 3] + tf.reduce_sum(tf.square(add), -1, keepdims=True))
    return dot_read, tf.maximum(squares, 0.0)


def address_from_sums(dot, squared_norms, head: HeadParameters, w_prev):
    """A head's full addressing from its key-slot dot products [B, H, N] and the slots' squared
    norms [B, N]: addressing.address with the sums over the memory already taken."""
    content = addressing.weights_from_similarity(dot, squared_norms, head.keys, head.strengths)
    return addressing.locate(content, w_prev, head.gate, head.shift_weights, head.gamma)


def _heads(raw_read, raw_write, width, clip_value, values):
    shift_range = (raw_read.shape[-1] - width - 4) // 2
    write = head_parameters(raw_write, width, shift_range, True, clip_value)
    read = head_parameters(raw_read, width, shift_range, False, clip_value)
    erase, add = erase_and_add(write, values)
    if erase.shape[1] != 1:
        raise ValueError("these memory-step variants need one write head")
    return write, read, erase[:, 0], add[:, 0]


def memory_step_two_pass(memory, read_weights_prev, write_weights_prev, raw_read, raw_write,
                         clip_value: float = 20.0, values=None) -> MemoryStepResult:
    """memory_step (one write head) in two passes over a memory [B, N, W]; same arguments."""
    memory = tf.convert_to_tensor(memory, tf.float32)
    write, read, erase, add = _heads(raw_read, raw_write, memory.shape[-1], clip_value, values)
    linear, square = stacked_vectors(write.keys[:, 0], read.keys, erase, add)
    sums = materialized(tf.reduce_sum(
        memory[:, None] * linear[:, :, None, :]
        + tf.square(memory)[:, None] * square[:, :, None, :], axis=-1))  # [B, K, N]
    write_weights = address_from_sums(sums[:, :1], sums[:, 1], write, write_weights_prev)
    dot_read, squares = read_similarities(sums, write_weights[:, 0], erase, add, read.keys)
    read_weights = address_from_sums(dot_read, squares, read, read_weights_prev)
    w = write_weights[:, 0, :, None]
    new_memory = memory * (1.0 - w * erase[:, None, :]) + w * add[:, None, :]
    reads = tf.reduce_sum(read_weights[:, :, :, None] * new_memory[:, None], axis=2)
    return MemoryStepResult(new_memory, reads, read_weights, write_weights)


def memory_step_slot_minor(memory_t, read_weights_prev, write_weights_prev, raw_read, raw_write,
                           clip_value: float = 20.0, values=None,
                           two_pass: bool = False) -> MemoryStepResult:
    """memory_step (one write head) on a memory stored [B, W, N]; its memory comes out [B, W, N].

    two_pass: the two-pass form above, in this layout; otherwise the direct form.
    """
    memory_t = tf.convert_to_tensor(memory_t, tf.float32)
    write, read, erase, add = _heads(raw_read, raw_write, memory_t.shape[1], clip_value, values)
    if two_pass:
        linear, square = stacked_vectors(write.keys[:, 0], read.keys, erase, add)
        sums = materialized(tf.reduce_sum(memory_t[:, None] * linear[:, :, :, None]
                                          + tf.square(memory_t)[:, None] * square[:, :, :, None],
                                          axis=2))  # [B, K, N]
        dot_write, squares = sums[:, :1], sums[:, 1]
    else:
        dot_write = tf.reduce_sum(memory_t[:, None] * write.keys[:, :, :, None], axis=2)
        squares = tf.reduce_sum(tf.square(memory_t), axis=1)
    write_weights = address_from_sums(dot_write, squares, write, write_weights_prev)
    w = write_weights[:, 0]  # [B, N]
    new_memory = (memory_t * (1.0 - erase[:, :, None] * w[:, None, :])
                  + add[:, :, None] * w[:, None, :])
    if two_pass:
        dot_read, new_squares = read_similarities(sums, w, erase, add, read.keys)
    else:
        dot_read = tf.reduce_sum(new_memory[:, None] * read.keys[:, :, :, None], axis=2)
        new_squares = tf.reduce_sum(tf.square(new_memory), axis=1)
    read_weights = address_from_sums(dot_read, new_squares, read, read_weights_prev)
    reads = tf.reduce_sum(new_memory[:, None] * read_weights[:, :, None, :], axis=-1)
    return MemoryStepResult(new_memory, reads, read_weights, write_weights)
