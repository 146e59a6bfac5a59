"""The layer-normalised LSTM step of REDP, with chrono initialisation of the gate biases.

Tallec & Ollivier 2018 (arXiv 1804.11188): forget-gate biases drawn from U(-1, log(T - 1)) for
a characteristic time T (REDP: the mean training dialogue length), input-gate biases their
negatives. As in rasa_core's ChronoBiasLayerNormBasicLSTMCell, these biases are constants added
after layer normalisation; the normalisation's shift is the trainable bias. Recurrent dropout on
the candidate and on the output; an optional output layer makes the output (and the recurrent
state h) the size of the dialogue embedding.
"""
from typing import Optional, Tuple

import numpy as np
import tensorflow as tf

LAYER_NORM_EPSILON = 1e-6


def chrono_forget_bias(units: int, characteristic_time: float, seed: Optional[int]) -> np.ndarray:
    """[units] forget-gate biases, uniform in [-1, log(characteristic_time - 1)]."""
    upper = np.log(max(characteristic_time - 1.0, 1.0 + 1e-3))
    return (-1.0 + (upper + 1.0) * np.random.default_rng(seed).random(units)).astype(np.float32)


def layer_norm(x, gain, shift) -> tf.Tensor:
    """[B, U] normalised over U, then gain * x + shift."""
    mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
    return gain * (x - mean) * tf.math.rsqrt(variance + LAYER_NORM_EPSILON) + shift


class ChronoLayerNormLSTM(tf.keras.layers.Layer):
    """One LSTM step: (inputs [B, I], (c [B, U], h [B, S])) -> (output [B, S], (c, h)).

    S is out_size when given (an output layer after the LSTM), else U.
    """

    def __init__(self, units: int, out_size: Optional[int], layer_normalization: bool = True,
                 kernel_regularizer=None, name: str = "lstm") -> None:
        super().__init__(name=name)
        self.units, self.out_size = units, out_size
        self.layer_normalization = layer_normalization
        self.out_layer = (tf.keras.layers.Dense(out_size, kernel_regularizer=kernel_regularizer,
                                                name="out_layer") if out_size else None)

    @property
    def output_size(self) -> int:
        return self.out_size or self.units

    def build(self, input_shape) -> None:
        inputs = int(input_shape[-1]) + self.output_size
        self.kernel = self.add_weight("kernel", [inputs, 4 * self.units],
                                      initializer="glorot_uniform")
        if self.layer_normalization:
            self.gains = self.add_weight("gains", [4, self.units], initializer="ones")
            self.shifts = self.add_weight("shifts", [4, self.units], initializer="zeros")
        else:
            self.bias = self.add_weight("bias", [4 * self.units], initializer="zeros")
        # set from the training data by set_chrono_bias before training; persisted
        self.forget_bias = self.add_weight("forget_bias", [self.units], initializer="ones",
                                           trainable=False)
        if self.out_layer is not None:
            self.out_layer.build([None, self.units])
        super().build(input_shape)

    def set_chrono_bias(self, characteristic_time: float, seed: Optional[int]) -> None:
        self.forget_bias.assign(chrono_forget_bias(self.units, characteristic_time, seed))

    def call(self, inputs, state: Tuple[tf.Tensor, tf.Tensor], keep_masks=None):
        """keep_masks: None, or ([B, U], [B, U]) dropout keep masks (already scaled by 1/keep)
        for the candidate and the output."""
        c, h = state
        gates = tf.matmul(tf.concat([inputs, h], -1), self.kernel)
        if not self.layer_normalization:
            gates = gates + self.bias
        i, j, f, o = tf.split(gates, 4, axis=-1)
        if self.layer_normalization:
            i, j, f, o = (layer_norm(x, self.gains[k], self.shifts[k])
                          for k, x in enumerate((i, j, f, o)))
        candidate = tf.tanh(j)
        if keep_masks is not None:
            candidate = candidate * keep_masks[0]
        new_c = (c * tf.sigmoid(f + self.forget_bias)
                 + candidate * tf.sigmoid(i - self.forget_bias))
        new_h = tf.tanh(new_c) * tf.sigmoid(o)
        if keep_masks is not None:
            new_h = new_h * keep_masks[1]
        if self.out_layer is not None:
            new_h = self.out_layer(new_h)
        return new_h, (new_c, new_h)
