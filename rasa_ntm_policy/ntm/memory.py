"""NTM memory reads and writes (Graves et al. 2014, section 3.1-3.2).

Written as broadcast products and sums (no batched matmuls), so XLA fuses each into a single
pass over the memory.

Shapes: B batch, H heads, N slots, W slot width.
"""
import tensorflow as tf


def read(memory, w) -> tf.Tensor:
    """Read (eq. 2): r_h = sum_n w_h(n) M(n).

    Args:
      memory: [B, N, W]; w: [B, H, N] read weightings.
    Returns:
      [B, H, W] read vectors.
    """
    memory = tf.convert_to_tensor(memory, tf.float32)
    w = tf.convert_to_tensor(w, tf.float32)
    return tf.reduce_sum(w[:, :, :, None] * memory[:, None, :, :], axis=2)


def write(memory, w, erase, add) -> tf.Tensor:
    """Erase then add (eqs. 3-4), for any number of write heads.

    M'(n) = M(n) * prod_h (1 - w_h(n) e_h) + sum_h w_h(n) a_h

    Args:
      memory: [B, N, W]; w: [B, H, N] write weightings; erase: [B, H, W] in [0, 1];
      add: [B, H, W].
    Returns:
      [B, N, W] the new memory.
    """
    memory = tf.convert_to_tensor(memory, tf.float32)
    w = tf.convert_to_tensor(w, tf.float32)
    erase = tf.convert_to_tensor(erase, tf.float32)
    add = tf.convert_to_tensor(add, tf.float32)
    keep = tf.reduce_prod(1.0 - w[:, :, :, None] * erase[:, :, None, :], axis=1)
    added = tf.reduce_sum(w[:, :, :, None] * add[:, :, None, :], axis=1)
    return memory * keep + added
