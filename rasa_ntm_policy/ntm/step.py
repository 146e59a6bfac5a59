"""One memory step of the NTM: address the write heads, write, address the read heads, read.

The order is write-then-read (as in the DNC), so what a step writes can be read in that step.
This is the kernel the policy runs every turn; it is pure, so it compiles with XLA on its own
(`tf.function(memory_step, jit_compile=True)`) and runs on a GPU (see bench/gpu/gpu_export.py).
Shapes: B batch, N slots, W slot width, Hr read heads, Hw write heads, R shift range.
"""
from typing import NamedTuple

import tensorflow as tf

from rasa_ntm_policy.ntm import addressing, memory as memory_ops
from rasa_ntm_policy.ntm.heads import HeadParameters, head_parameters


class MemoryStepResult(NamedTuple):
    memory: tf.Tensor  # [B, N, W] after the write
    reads: tf.Tensor  # [B, Hr, W]
    read_weights: tf.Tensor  # [B, Hr, N]
    write_weights: tf.Tensor  # [B, Hw, N]


def erase_and_add(write: HeadParameters, values=None):
    """The write heads' erase and add vectors [B, Hw, W], with the optional values [B, V]
    placed verbatim in the first V columns (erase 1, add the values)."""
    erase, add = write.erase, write.add
    if values is not None:
        values = tf.convert_to_tensor(values, tf.float32)
        value_size = values.shape[-1]
        heads = tf.shape(add)[1]
        erase = tf.concat([tf.ones_like(erase[..., :value_size]), erase[..., value_size:]], -1)
        add = tf.concat([tf.tile(values[:, None, :], [1, heads, 1]), add[..., value_size:]], -1)
    return erase, add


def memory_step(memory, read_weights_prev, write_weights_prev, raw_read, raw_write,
                clip_value: float = 20.0, values=None) -> MemoryStepResult:
    """Address, write and read one step from raw (unconstrained) head parameters.

    Args:
      memory: [B, N, W].
      read_weights_prev: [B, Hr, N]; write_weights_prev: [B, Hw, N].
      raw_read: [B, Hr, W + 2R + 4]; raw_write: [B, Hw, 3W + 2R + 4].
      clip_value: bound on the raw parameters.
      values: optional [B, V] with V <= W: written verbatim into the first V columns of the
        slots each write head addresses (erase 1, add values there), so reads return them as
        they were (a copy), while the other W - V columns hold what the controller writes.
    Returns:
      MemoryStepResult.
    """
    memory = tf.convert_to_tensor(memory, tf.float32)
    width = memory.shape[-1]
    raw_read = tf.convert_to_tensor(raw_read, tf.float32)
    shift_range = (raw_read.shape[-1] - width - 4) // 2
    write = head_parameters(raw_write, width, shift_range, True, clip_value)
    write_weights = addressing.address(memory, write_weights_prev, write.keys, write.strengths,
                                       write.gate, write.shift_weights, write.gamma)
    erase, add = erase_and_add(write, values)
    memory = memory_ops.write(memory, write_weights, erase, add)
    read = head_parameters(raw_read, width, shift_range, False, clip_value)
    read_weights = addressing.address(memory, read_weights_prev, read.keys, read.strengths,
                                      read.gate, read.shift_weights, read.gamma)
    return MemoryStepResult(memory, memory_ops.read(memory, read_weights), read_weights,
                            write_weights)
