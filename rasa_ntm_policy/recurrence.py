"""The one recurrence over a dialogue's turns, for training and prediction alike: the NTM cell,
the bag of action tokens the user has named, and the digression restores.

Shapes: B dialogues, T turns, F turn features, L label features, O = the cell's output size + L.
"""
from typing import NamedTuple, Optional

import numpy as np
import tensorflow as tf

from rasa_ntm_policy.ntm import NTMCell, NTMState


class DialogueState(NamedTuple):
    """What the recurrence carries from one turn to the next (and a restore brings back)."""

    cell: NTMState
    mentioned: tf.Tensor  # [B, L] 1 for each action token the user has named so far


class TurnHistory(NamedTuple):
    """The outputs and states after every turn, time-major."""

    outputs: tf.Tensor  # [T, B, O]: the cell's output, then the mentioned tokens
    states: DialogueState  # each tensor [T, B, ...]


class TurnRecurrence(tf.keras.layers.Layer):
    """Steps an NTMCell through the turns; a restore returns to an earlier turn's state.

    Args:
      cell: the NTM cell (its value_size last input columns are stored verbatim).
      user_tokens: [F, L] the map from a turn's features to the action tokens the user named
        in it (DialogueFeaturizer.token_sources' user source).
    """

    def __init__(self, cell: NTMCell, user_tokens: np.ndarray, **kwargs) -> None:
        super().__init__(**kwargs)
        self.cell = cell
        self.user_tokens = tf.constant(user_tokens, tf.float32)
        self.label_size = int(user_tokens.shape[-1])
        self._row_shapes = None  # of empty_rows, found once

    @property
    def output_size(self) -> int:
        return self.cell.output_size + self.label_size

    def build(self, input_shape) -> None:
        if not self.cell.built:
            self.cell.build(tf.TensorShape([None, input_shape[-1]]))
        self.built = True

    def initial_state(self, batch) -> DialogueState:
        return DialogueState(self.cell.get_initial_state(batch_size=batch),
                             tf.zeros([batch, self.label_size]))

    def empty_rows(self, count: int) -> TurnHistory:
        """[count, 1, ...] zero rows of one dialogue, the shape of call's saved (count may be 0)."""
        if self._row_shapes is None:
            self._row_shapes = tf.nest.map_structure(
                lambda v: v.shape,
                TurnHistory(tf.zeros([1, self.output_size]), self.initial_state(1)))
        return tf.nest.map_structure(
            lambda shape: np.zeros([count] + shape.as_list(), np.float32), self._row_shapes)

    def step(self, inputs: tf.Tensor, state: DialogueState):
        """inputs [B, F], state -> (output [B, O], the next DialogueState)."""
        output, cell_state = self.cell(inputs, state.cell)
        named = tf.cast(tf.matmul(inputs, self.user_tokens) > 0, tf.float32)
        mentioned = tf.maximum(state.mentioned, named)
        return tf.concat([output, mentioned], -1), DialogueState(cell_state, mentioned)

    def call(self, turns: tf.Tensor, restore: tf.Tensor,
             active_turns: Optional[tf.Tensor] = None, saved: Optional[TurnHistory] = None,
             start: Optional[tf.Tensor] = None) -> TurnHistory:
        """turns [B, T, F], restore [B, T] -> TurnHistory over the T turns.

        Where restore[b, t] = s >= 0, the state (and output) after turn t is the one after
        turn s: the digression between them is undone (see dialogue.restore_indices).
        With active_turns (a scalar <= T: the longest dialogue), the loop stops there and the
        later, padding turns' outputs and states are zeros; one compiled program serves
        batches of any length.

        Resuming (prediction): saved is a TurnHistory of P rows [P, B, ...], the outputs and
        states after P earlier turns, and start (a scalar int32) the row the first turn
        continues from, -1 for the initial state. The rows are then numbered saved first, the
        T turns after them: restore's s indexes those P + T rows, and so does the TurnHistory
        returned (the saved rows unchanged, then the T turns').
        """
        batch = turns.shape[0] if turns.shape[0] is not None else tf.shape(turns)[0]
        num_turns = turns.shape[1] if turns.shape[1] is not None else tf.shape(turns)[1]
        state = self.initial_state(batch)
        output = tf.zeros([batch, self.output_size])
        flat = [output] + tf.nest.flatten(state)
        # the output and state after every turn, [P + T, B, ...], read back by gathering one
        # row per dialogue (its gradient is a scatter: no stored copies of the history)
        history = [tf.zeros(tf.concat([[num_turns], tf.shape(v)], 0)) for v in flat]
        offset = 0
        if saved is not None and saved.outputs.shape[0] != 0:  # none saved: as without saved
            saved_rows = tf.nest.flatten(saved)
            offset = tf.shape(saved.outputs)[0]
            flat = [tf.where(start >= 0, tf.gather(r, tf.maximum(start, 0)), v)
                    for r, v in zip(saved_rows, flat)]
            history = [tf.concat([r, h], 0) for r, h in zip(saved_rows, history)]
        state = tf.nest.pack_sequence_as(state, flat[1:])
        rows = tf.range(batch)

        def body(t, state, history):
            output, next_state = self.step(turns[:, t], state)
            source = restore[:, t]
            restored = tf.stack([tf.maximum(source, 0), rows], axis=-1)
            has_source = source >= 0
            values = [tf.where(tf.reshape(has_source, [-1] + [1] * (len(v.shape) - 1)),
                               tf.gather_nd(h, restored), v)
                      for h, v in zip(history, [output] + tf.nest.flatten(next_state))]
            history = [tf.tensor_scatter_nd_update(h, [[offset + t]], v[None])
                       for h, v in zip(history, values)]
            return t + 1, tf.nest.pack_sequence_as(state, values[1:]), history

        active = num_turns if active_turns is None else active_turns
        _, _, history = tf.while_loop(lambda t, *_: t < active, body,
                                      (tf.constant(0), state, history),
                                      maximum_iterations=num_turns)
        return TurnHistory(history[0], tf.nest.pack_sequence_as(state, history[1:]))
