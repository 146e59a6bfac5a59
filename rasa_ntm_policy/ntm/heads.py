"""From a controller's raw outputs to constrained head parameters (Collier & Beel 2018).

A head's raw parameters are laid out once, in HEAD_LAYOUT: a read head needs W + 2R + 4 numbers
per step (key, strength, gate, 2R+1 shift weights, gamma), a write head 3W + 2R + 4 (the same,
then erase and add vectors). The raw numbers are clipped, then constrained: key and add = tanh,
strength = softplus, gate and erase = sigmoid, shift weights = softmax, gamma = 1 + softplus.
Shapes: B batch, H heads, W slot width, R shift range.
"""
from typing import Callable, Dict, List, NamedTuple, Tuple

import tensorflow as tf


class HeadParameters(NamedTuple):
    """Addressing parameters of H heads; erase and add are None for read heads."""

    keys: tf.Tensor  # [B, H, W]
    strengths: tf.Tensor  # [B, H]
    gate: tf.Tensor  # [B, H]
    shift_weights: tf.Tensor  # [B, H, 2R+1]
    gamma: tf.Tensor  # [B, H]
    erase: tf.Tensor = None  # [B, H, W]
    add: tf.Tensor = None  # [B, H, W]


def _softmax_last(raw: tf.Tensor) -> tf.Tensor:
    return tf.nn.softmax(raw, axis=-1)


def _one_plus_softplus(raw: tf.Tensor) -> tf.Tensor:
    return 1.0 + tf.nn.softplus(raw)


# (field of HeadParameters, its size from (W, R), whether it is a vector, its constraint), in the
# order the raw parameters come in; the last two only for write heads
HEAD_LAYOUT: Tuple[Tuple[str, Callable[[int, int], int], bool, Callable], ...] = (
    ("keys", lambda w, r: w, True, tf.tanh),
    ("strengths", lambda w, r: 1, False, tf.nn.softplus),
    ("gate", lambda w, r: 1, False, tf.sigmoid),
    ("shift_weights", lambda w, r: 2 * r + 1, True, _softmax_last),
    ("gamma", lambda w, r: 1, False, _one_plus_softplus),
    ("erase", lambda w, r: w, True, tf.sigmoid),
    ("add", lambda w, r: w, True, tf.tanh),
)
READ_FIELDS = 5  # a read head has the first five fields of HEAD_LAYOUT


def _layout(is_write: bool):
    return HEAD_LAYOUT if is_write else HEAD_LAYOUT[:READ_FIELDS]


def parameter_sizes(width: int, shift_range: int, is_write: bool) -> List[int]:
    """The number of raw values of each field of one head, in HEAD_LAYOUT's order."""
    return [size(width, shift_range) for _, size, _, _ in _layout(is_write)]


def read_parameter_size(width: int, shift_range: int) -> int:
    return sum(parameter_sizes(width, shift_range, is_write=False))


def write_parameter_size(width: int, shift_range: int) -> int:
    return sum(parameter_sizes(width, shift_range, is_write=True))


def head_parameters(raw, width: int, shift_range: int, is_write: bool,
                    clip_value: float = 20.0) -> HeadParameters:
    """Splits and constrains raw controller outputs.

    Args:
      raw: [B, H, P] with P = read_parameter_size or write_parameter_size.
      width: slot width W. shift_range: R. is_write: whether erase and add follow.
      clip_value: raw values are clipped to [-clip_value, clip_value] first.
    Returns:
      HeadParameters.
    """
    raw = tf.clip_by_value(tf.convert_to_tensor(raw, tf.float32), -clip_value, clip_value)
    sizes = parameter_sizes(width, shift_range, is_write)
    if raw.shape[-1] != sum(sizes):
        raise ValueError(f"raw head parameters have {raw.shape[-1]} values, expected {sum(sizes)}")
    fields: Dict[str, tf.Tensor] = {}
    start = 0
    for (name, _, is_vector, constrain), size in zip(_layout(is_write), sizes):
        part = raw[..., start:start + size] if is_vector else raw[..., start]
        fields[name] = constrain(part)
        start += size
    return HeadParameters(**fields)
