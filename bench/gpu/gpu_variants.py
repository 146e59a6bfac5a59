"""Other ways to write the NTM memory step, timed on the GPU beside the library's (gpu_export.py).

rasa_ntm_policy.ntm.memory_step, written directly, makes four passes over the memory [B, N, W]:
the write head's similarities, the write, the read heads' similarities on the new memory, the
read. These variants compute the same step (one write head) with fewer passes or another
layout. They are measurements, not the library: on this project's 2-core CPU, where the policy
runs, the two-pass forms took as long as the direct form at batch 1 and 17-24 % longer at
batch 8 and 256 (bench/gpu/README.md).

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

Planes. The memory stored [W, B, N], one [B, N] plane per column of the slots: every sum over
W is a sum of W planes. Written as W terms added up (plane_sums' unrolled form, also usable on
the slices of a [B, W, N] memory), XLA fuses all the sums into one elementwise pass (no
reduction) that writes each as a [B, N] array. The write and the read run over whole planes,
the read's sum over the minor axis.

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


@tf.custom_gradient
def materialized_all(*xs):
    """materialized for several tensors behind one barrier: XLA computes them together once."""
    return list(xla.optimization_barrier(*xs)), lambda *dys: list(dys)


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
    return read_similarities_from(sums[:, 1], sums[:, 2], sums[:, 3], sums[:, 4:4 + hr],
                                  sums[:, 4 + hr:], write_weights, add, keys_read)


def read_similarities_from(squares, p, q, dot_read, dot_erased_read, write_weights, add,
                           keys_read):
    """read_similarities from the sums by name.

    Args:
      squares, p, q: [B, N] |M(n)|^2, P(n) and Q(n) of the module docstring;
      dot_read, dot_erased_read: [B, Hr, N] M(n) . k and M(n) . (e * k) for each read key k;
      write_weights: [B, N]; add: [B, W]; keys_read: [B, Hr, W].
    Returns:
      ([B, Hr, N] key . M'(n), [B, N] |M'(n)|^2).
    """
    w = write_weights
    add_dot_read = tf.reduce_sum(add[:, None, :] * keys_read, -1)  # [B, Hr]
    dot_read = dot_read + w[:, None, :] * (add_dot_read[:, :, None] - dot_erased_read)
    new_squares = squares + w * p + tf.square(w) * (
        q + tf.reduce_sum(tf.square(add), -1, keepdims=True))
    return dot_read, tf.maximum(new_squares, 0.0)


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
                           clip_value: float = 20.0, values=None, two_pass: bool = False,
                           unrolled_first_pass: bool = False) -> MemoryStepResult:
    """memory_step (one write head) on a memory stored [B, W, N]; its memory comes out [B, W, N].

    two_pass: the two-pass form above, in this layout; otherwise the direct form.
    unrolled_first_pass: (two_pass only) the first pass's sums as W slices [B, N] added up
      (plane_sums' unrolled form) rather than one stacked reduction.
    """
    memory_t = tf.convert_to_tensor(memory_t, tf.float32)
    write, read, erase, add = _heads(raw_read, raw_write, memory_t.shape[1], clip_value, values)
    if two_pass and unrolled_first_pass:
        columns = [memory_t[:, i] for i in range(memory_t.shape[1])]
        dot_write, squares, p, q, old_dot_read, old_dot_erased_read = materialized_all(
            *plane_sums(columns, write.keys[:, 0], read.keys, erase, add, "unrolled"))
        dot_write = dot_write[:, None]
    elif two_pass:
        hr = read.keys.shape[1]
        linear, square = stacked_vectors(write.keys[:, 0], read.keys, erase, add)
        sums = materialized(tf.reduce_sum(memory_t[:, None] * linear[:, :, :, None]
                                          + tf.square(memory_t)[:, None] * square[:, :, :, None],
                                          axis=2))  # [B, K, N]
        dot_write, squares, p, q = sums[:, :1], sums[:, 1], sums[:, 2], sums[:, 3]
        old_dot_read, old_dot_erased_read = sums[:, 4:4 + hr], sums[:, 4 + hr:]
    else:
        dot_write = tf.reduce_sum(memory_t[:, None] * write.keys[:, :, :, None], axis=2)
        squares = tf.reduce_sum(tf.square(memory_t), axis=1)
    write_weights = address_from_sums(dot_write, squares, write, write_weights_prev)
    w = write_weights[:, 0]  # [B, N]
    new_memory = (memory_t * (1.0 - erase[:, :, None] * w[:, None, :])
                  + add[:, :, None] * w[:, None, :])
    if two_pass:
        dot_read, new_squares = read_similarities_from(squares, p, q, old_dot_read,
                                                       old_dot_erased_read, w, add, read.keys)
    else:
        dot_read = tf.reduce_sum(new_memory[:, None] * read.keys[:, :, :, None], axis=2)
        new_squares = tf.reduce_sum(tf.square(new_memory), axis=1)
    read_weights = address_from_sums(dot_read, new_squares, read, read_weights_prev)
    reads = tf.reduce_sum(new_memory[:, None] * read_weights[:, :, None, :], axis=-1)
    return MemoryStepResult(new_memory, reads, read_weights, write_weights)


PLANE_SUMS = ("reduced", "unrolled", "stacked")


def plane_sums(planes, keys_write, keys_read, erase, add, form: str):
    """The two-pass form's sums over W of a memory stored as planes, each [B, N].

    Args:
      planes: [W, B, N], or (unrolled form only) a list of W [B, N] planes;
      keys_write: [B, W]; keys_read: [B, Hr, W]; erase, add: [B, W].
      form: how XLA is asked for them (PLANE_SUMS):
        reduced: one reduction over the major axis per sum;
        unrolled: each sum as W plane-sized terms added up (elementwise, no reduction);
        stacked: one reduction over the major axis into [B, N, K], the sums minor, so that one
          loop over the planes computes all of them.
    Returns:
      [dot_write, squares, p, q] [B, N] each, then dot_read, dot_erased_read [B, Hr, N].
    """
    if form not in PLANE_SUMS:
        raise ValueError(f"form must be one of {PLANE_SUMS}, got {form!r}")
    hr = keys_read.shape[1]
    columns = [keys_write, 2.0 * add, -2.0 * erase * add] + [
        keys_read[:, h] for h in range(hr)] + [erase * keys_read[:, h] for h in range(hr)]
    square_columns = [-2.0 * erase, tf.square(erase)]
    if form == "stacked":
        # [W, B, K] vectors against the planes and their squares, K = 3 + 2 Hr and 3
        linear_t = tf.transpose(tf.stack(columns, -1), [1, 0, 2])
        square_t = tf.transpose(tf.stack([tf.ones_like(erase)] + square_columns, -1), [1, 0, 2])
        sums = tf.reduce_sum(tf.concat([planes[..., None] * linear_t[:, :, None, :],
                                        tf.square(planes)[..., None] * square_t[:, :, None, :]],
                                       -1), axis=0)  # [B, N, 6 + 2 Hr]
        k = len(columns)
        linear = [sums[..., i] for i in range(k)]
        squares, square = sums[..., k], [sums[..., k + 1], sums[..., k + 2]]
    elif form == "unrolled":
        plane = (list(planes) if isinstance(planes, (list, tuple))
                 else [planes[i] for i in range(planes.shape[0])])
        squared = [tf.square(x) for x in plane]

        def weighted(vectors, xs):  # sum_i xs[i] * vectors[:, i]: [B, N]
            return tf.add_n([x * vectors[:, i:i + 1] for i, x in enumerate(xs)])

        linear = [weighted(v, plane) for v in columns]
        square = [weighted(v, squared) for v in square_columns]
        squares = tf.add_n(squared)
    else:
        def weighted(vectors, xs):
            return tf.reduce_sum(xs * tf.transpose(vectors)[:, :, None], axis=0)

        linear = [weighted(v, planes) for v in columns]
        square = [weighted(v, tf.square(planes)) for v in square_columns]
        squares = tf.reduce_sum(tf.square(planes), axis=0)
    dot_write, p, q = linear[0], linear[1] + square[0], linear[2] + square[1]
    dot_read = tf.stack(linear[3:3 + hr], axis=1)
    dot_erased_read = tf.stack(linear[3 + hr:], axis=1)
    return [dot_write, squares, p, q, dot_read, dot_erased_read]


def memory_step_planes(planes, read_weights_prev, write_weights_prev, raw_read, raw_write,
                       clip_value: float = 20.0, values=None,
                       form: str = "unrolled") -> MemoryStepResult:
    """memory_step (one write head) in two passes on a memory stored as planes [W, B, N]; its
    memory comes out [W, B, N]. form: how the first pass's sums are written (plane_sums)."""
    planes = tf.convert_to_tensor(planes, tf.float32)
    write, read, erase, add = _heads(raw_read, raw_write, planes.shape[0], clip_value, values)
    sums = materialized_all(*plane_sums(planes, write.keys[:, 0], read.keys, erase, add, form))
    dot_write, squares, p, q, dot_read, dot_erased_read = sums
    write_weights = address_from_sums(dot_write[:, None], squares, write, write_weights_prev)
    w = write_weights[:, 0]  # [B, N]
    new_dot_read, new_squares = read_similarities_from(squares, p, q, dot_read, dot_erased_read,
                                                       w, add, read.keys)
    read_weights = address_from_sums(new_dot_read, new_squares, read, read_weights_prev)
    new_planes = (planes * (1.0 - tf.transpose(erase)[:, :, None] * w[None])
                  + tf.transpose(add)[:, :, None] * w[None])
    reads = tf.reduce_sum(new_planes[None] * tf.transpose(read_weights, [1, 0, 2])[:, None],
                          axis=-1)  # [Hr, W, B]
    return MemoryStepResult(new_planes, tf.transpose(reads, [2, 0, 1]), read_weights,
                            write_weights)
