"""From a controller's raw outputs to constrained head parameters (Collier & Beel 2018).

A read head needs W + 2R + 4 numbers per step (key, strength, gate, 2R+1 shift weights, gamma);
a write head 3W + 2R + 4 (the same plus erase and add vectors). The raw numbers are clipped,
then constrained: key and add = tanh, strength = softplus, gate and erase = sigmoid,
shift weights = softmax, gamma = 1 + softplus.
Shapes: B batch, H heads, W slot width, R shift range.
"""
from typing import NamedTuple

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


def read_parameter_size(width: int, shift_range: int) -> int:
    return width + 2 * shift_range + 4


def write_parameter_size(width: int, shift_range: int) -> int:
    return 3 * width + 2 * shift_range + 4


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
    num_shifts = 2 * shift_range + 1
    expected = (write_parameter_size if is_write else read_parameter_size)(width, shift_range)
    if raw.shape[-1] != expected:
        raise ValueError(f"raw head parameters have {raw.shape[-1]} values, expected {expected}")
    keys = tf.tanh(raw[..., :width])
    strengths = tf.nn.softplus(raw[..., width])
    gate = tf.sigmoid(raw[..., width + 1])
    shift_weights = tf.nn.softmax(raw[..., width + 2:width + 2 + num_shifts], axis=-1)
    gamma = 1.0 + tf.nn.softplus(raw[..., width + 2 + num_shifts])
    if not is_write:
        return HeadParameters(keys, strengths, gate, shift_weights, gamma)
    offset = width + 3 + num_shifts
    erase = tf.sigmoid(raw[..., offset:offset + width])
    add = tf.tanh(raw[..., offset + width:offset + 2 * width])
    return HeadParameters(keys, strengths, gate, shift_weights, gamma, erase, add)
