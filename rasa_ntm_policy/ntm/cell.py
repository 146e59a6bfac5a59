"""The Neural Turing Machine as a Keras RNN cell.

Per step: the controller (an LSTM by default) reads the input and the previous read vectors;
a linear layer maps its output to the raw parameters of every head; `memory_step` writes and
reads the memory. The cell's output is the controller output next to the read vectors.

The state is an NTMState (B batch, U controller units, N slots, W width, Hr/Hw read/write heads).
"""
from typing import Any, Dict, NamedTuple, Tuple

import tensorflow as tf

from rasa_ntm_policy.ntm.heads import read_parameter_size, write_parameter_size
from rasa_ntm_policy.ntm.step import memory_step

CONTROLLERS = ("lstm", "dense")


class NTMState(NamedTuple):
    """The cell's state between steps."""

    controller: Tuple[tf.Tensor, ...]  # ([B, U] h, [B, U] c) for the LSTM, ([B, U],) for dense
    reads: tf.Tensor  # [B, Hr * W] the read vectors, flattened
    read_weights: tf.Tensor  # [B, Hr, N]
    write_weights: tf.Tensor  # [B, Hw, N]
    memory: tf.Tensor  # [B, N, W]


@tf.keras.utils.register_keras_serializable(package="rasa_ntm_policy")
class NTMCell(tf.keras.layers.AbstractRNNCell):
    """An NTM cell: controller + N x W memory + read and write heads.

    Args:
      units: controller size U.
      memory_slots: N. memory_width: W.
      read_heads, write_heads: numbers of heads (>= 1 each).
      shift_range: R, shifts -R..R (2R + 1 <= N).
      controller: "lstm" (default) or "dense" (a feed-forward tanh layer).
      clip_value: bound on the controller outputs and raw head parameters.
      memory_init: the constant every memory cell starts at (Collier & Beel 2018).
      value_size: V <= memory_width. The last V columns of each input are values that the
        write heads store verbatim in the first V columns of the slots they write (see
        memory_step), so the read vectors can copy them back; 0 (default) for none.
    """

    def __init__(self, units: int = 100, memory_slots: int = 128, memory_width: int = 20,
                 read_heads: int = 1, write_heads: int = 1, shift_range: int = 1,
                 controller: str = "lstm", clip_value: float = 20.0, memory_init: float = 1e-6,
                 value_size: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for name, value, minimum in (("units", units, 1), ("memory_slots", memory_slots, 1),
                                     ("memory_width", memory_width, 1),
                                     ("read_heads", read_heads, 1),
                                     ("write_heads", write_heads, 1),
                                     ("shift_range", shift_range, 0)):
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise ValueError(f"NTMCell: {name} must be an integer >= {minimum}, got {value!r}")
        if 2 * shift_range + 1 > memory_slots:
            raise ValueError(f"NTMCell: shift_range {shift_range} does not fit {memory_slots} "
                             f"memory slots (needs 2 * shift_range + 1 <= memory_slots)")
        if not isinstance(value_size, int) or not 0 <= value_size <= memory_width:
            raise ValueError(f"NTMCell: value_size must be an integer in [0, memory_width], "
                             f"got {value_size!r}")
        if controller not in CONTROLLERS:
            raise ValueError(
                f"NTMCell: controller must be one of {CONTROLLERS}, got {controller!r}")
        if not clip_value > 0:
            raise ValueError(f"NTMCell: clip_value must be > 0, got {clip_value!r}")
        self.units = units
        self.memory_slots = memory_slots
        self.memory_width = memory_width
        self.read_heads = read_heads
        self.write_heads = write_heads
        self.shift_range = shift_range
        self.controller_type = controller
        self.clip_value = float(clip_value)
        self.memory_init = float(memory_init)
        self.value_size = value_size
        if controller == "lstm":
            self.controller = tf.keras.layers.LSTMCell(units, name="controller")
        else:
            self.controller = tf.keras.layers.Dense(units, activation="tanh", name="controller")
        self._read_size = read_parameter_size(memory_width, shift_range)
        self._write_size = write_parameter_size(memory_width, shift_range)
        self.head_layer = tf.keras.layers.Dense(
            read_heads * self._read_size + write_heads * self._write_size, name="heads")

    @property
    def _controller_state_size(self) -> Tuple[int, ...]:
        return (self.units, self.units) if self.controller_type == "lstm" else (self.units,)

    @property
    def state_size(self) -> NTMState:
        return NTMState(
            controller=self._controller_state_size,
            reads=self.read_heads * self.memory_width,
            read_weights=tf.TensorShape([self.read_heads, self.memory_slots]),
            write_weights=tf.TensorShape([self.write_heads, self.memory_slots]),
            memory=tf.TensorShape([self.memory_slots, self.memory_width]))

    @property
    def output_size(self) -> int:
        return self.units + self.read_heads * self.memory_width

    def build(self, input_shape: tf.TensorShape) -> None:
        input_dim = int(input_shape[-1])
        controller_input = tf.TensorShape([None, input_dim + self.read_heads * self.memory_width])
        self.controller.build(controller_input)
        self.head_layer.build(tf.TensorShape([None, self.units]))
        self.built = True

    def get_initial_state(self, inputs=None, batch_size=None, dtype=None) -> NTMState:
        if batch_size is None:
            batch_size = tf.shape(inputs)[0]
        n, w = self.memory_slots, self.memory_width
        # Both heads start focused on slot 0, so location addressing starts from a known place.
        focus = tf.one_hot(0, n)
        return NTMState(
            controller=tuple(tf.zeros([batch_size, self.units])
                             for _ in self._controller_state_size),
            reads=tf.fill([batch_size, self.read_heads * w], self.memory_init),
            read_weights=tf.tile(focus[None, None, :], [batch_size, self.read_heads, 1]),
            write_weights=tf.tile(focus[None, None, :], [batch_size, self.write_heads, 1]),
            memory=tf.fill([batch_size, n, w], self.memory_init))

    def call(self, inputs: tf.Tensor, states: NTMState, training=None):
        """inputs [B, input size], states -> (output [B, U + Hr * W], the next NTMState).

        states may also be the flat list of Keras' RNN layer (tf.nest order of NTMState)."""
        state = tf.nest.pack_sequence_as(self.state_size, tf.nest.flatten(states))
        controller_input = tf.concat([inputs, state.reads], axis=-1)
        if self.controller_type == "lstm":
            output, controller_state = self.controller(controller_input, list(state.controller))
        else:
            output = self.controller(controller_input)
            controller_state = [output]
        output = tf.clip_by_value(output, -self.clip_value, self.clip_value)
        raw = self.head_layer(output)
        split = self.read_heads * self._read_size
        raw_read = tf.reshape(raw[:, :split], [-1, self.read_heads, self._read_size])
        raw_write = tf.reshape(raw[:, split:], [-1, self.write_heads, self._write_size])
        values = inputs[:, -self.value_size:] if self.value_size else None
        result = memory_step(state.memory, state.read_weights, state.write_weights, raw_read,
                             raw_write, self.clip_value, values)
        flat_reads = tf.reshape(result.reads, [-1, self.read_heads * self.memory_width])
        new_state = NTMState(tuple(controller_state), flat_reads, result.read_weights,
                             result.write_weights, result.memory)
        return tf.concat([output, flat_reads], axis=-1), new_state

    def get_config(self) -> Dict[str, Any]:
        config = super().get_config()
        config.update(units=self.units, memory_slots=self.memory_slots,
                      memory_width=self.memory_width, read_heads=self.read_heads,
                      write_heads=self.write_heads, shift_range=self.shift_range,
                      controller=self.controller_type, clip_value=self.clip_value,
                      memory_init=self.memory_init, value_size=self.value_size)
        return config
