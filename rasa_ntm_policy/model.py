"""The Keras model NTMPolicy trains: an NTM over the turns, scored against action embeddings.

Shapes: B dialogues, T turns, F turn features, A actions, L label features, D embedding size.

  turn features [B,T,F] -> TurnRecurrence (recurrence.py: the NTM cell, the mentioned tokens,
    the digression restores) -> DialogueFeatures [B,T,...] -> scores [B,T,A] (scoring.py)

Each memory slot is W' = W + L wide: W learnt columns and the L label features of the turn's
previous action (the last L columns of the turn features), stored verbatim, so a read can bring
back a past action (the question pending before a digression) whatever it was.
"""
from typing import NamedTuple, Optional

import numpy as np
import tensorflow as tf

from rasa_ntm_policy.ntm import NTMCell
from rasa_ntm_policy.recurrence import TurnHistory, TurnRecurrence
from rasa_ntm_policy.scoring import (ActionEmbedding, DialogueEmbedding, DialogueFeatures,
                                     TokenCopy)

# the design's fixed choices (see docs/ntm_policy.md); the options are in config.py
WRITE_HEADS = 1
SHIFT_RANGE = 1  # location addressing moves a head by at most one slot a turn
CLIP_VALUE = 20.0  # bound on the controller's outputs (Collier & Beel 2018)


class Prediction(NamedTuple):
    probabilities: tf.Tensor  # [A] for the last turn
    read_weights: tf.Tensor  # [Hr, N] of the last turn
    write_weights: tf.Tensor  # [Hw, N] of the last turn
    kept: TurnHistory  # [K, 1, ...] the rows asked for, to resume from (TurnRecurrence.call)


class NTMDialogueModel(tf.keras.Model):
    """Scores every action after every turn of a batch of dialogues.

    Args:
      token_sources: [F, K, L] DialogueFeaturizer.token_sources, its last source the user's.
      memory_slots, memory_width, read_heads, controller_units, embedding_dimension, dropout:
        the options of the same names (config.py).
    """

    def __init__(self, token_sources: np.ndarray, memory_slots: int, memory_width: int,
                 read_heads: int, controller_units: int, embedding_dimension: int,
                 dropout: float) -> None:
        super().__init__(name="ntm_dialogue_model")
        self.turn_size, _, self.label_size = token_sources.shape
        self.slot_width = memory_width + self.label_size
        cell = NTMCell(units=controller_units, memory_slots=memory_slots,
                       memory_width=self.slot_width, read_heads=read_heads,
                       write_heads=WRITE_HEADS, shift_range=SHIFT_RANGE, controller="dense",
                       clip_value=CLIP_VALUE, value_size=self.label_size, name="ntm")
        self.recurrence = TurnRecurrence(cell, token_sources[:, -1], name="turns")
        self.dropout = dropout
        self.action_embedding = ActionEmbedding(embedding_dimension, name="actions")
        self.dialogue_embedding = DialogueEmbedding(embedding_dimension, self.action_embedding,
                                                    self.label_size, read_heads * self.slot_width,
                                                    name="dialogue")
        self.token_copy = TokenCopy(token_sources, name="token_copy")
        # prediction is one XLA program, traced and compiled once per combination of bucket
        # lengths (turns, saved rows, kept rows), with static shapes (none saved: no gathers)
        self.predict_last = tf.function(self._predict_last, jit_compile=True)

    @property
    def cell(self) -> NTMCell:
        return self.recurrence.cell

    def build_all(self) -> None:
        """Creates every weight (so checkpoints can be restored into a fresh model)."""
        self.scores(tf.zeros([1, 1, self.turn_size]), tf.fill([1, 1], -1),
                    tf.zeros([1, self.label_size]))

    def dialogue_features(self, turns: tf.Tensor, restore: tf.Tensor,
                          dropout_seed: Optional[tf.Tensor] = None,
                          active_turns: Optional[tf.Tensor] = None) -> DialogueFeatures:
        """turns [B,T,F], restore [B,T] -> DialogueFeatures [B,T,...] (see TurnRecurrence).

        With a dropout_seed ([2] int32, training only), input features are dropped with a
        stateless random mask, so training is reproducible from the policy's random_seed.
        """
        inputs = turns
        if dropout_seed is not None and self.dropout > 0:
            keep = tf.random.stateless_uniform(tf.shape(turns), dropout_seed) >= self.dropout
            inputs = tf.where(keep, turns / (1.0 - self.dropout), 0.0)
        outputs = tf.transpose(self.recurrence(inputs, restore, active_turns).outputs, [1, 0, 2])
        return self._features(outputs, turns)

    def _features(self, outputs: tf.Tensor, turns: tf.Tensor) -> DialogueFeatures:
        """recurrence outputs [..., O] and turn features [..., F] -> DialogueFeatures."""
        size = self.cell.output_size
        return DialogueFeatures(outputs[..., :size], outputs[..., size:], turns)

    def embedding_scores(self, features: DialogueFeatures, labels: tf.Tensor) -> tf.Tensor:
        """[..., A] the scores without the token copy."""
        return tf.einsum("...d,ad->...a", self.dialogue_embedding(features),
                         self.action_embedding(labels))

    def scores_from(self, features: DialogueFeatures, labels: tf.Tensor) -> tf.Tensor:
        """DialogueFeatures, labels [A, L] -> every action's score [..., A]."""
        return self.embedding_scores(features, labels) + self.token_copy(features, labels)

    def scores(self, turns: tf.Tensor, restore: tf.Tensor, labels: tf.Tensor,
               dropout_seed: Optional[tf.Tensor] = None,
               active_turns: Optional[tf.Tensor] = None) -> tf.Tensor:
        """[B,T,F], [B,T], [A,L] -> each turn's score of each action [B,T,A]."""
        features = self.dialogue_features(turns, restore, dropout_seed, active_turns)
        return self.scores_from(features, labels)

    def call(self, inputs):
        turns, restore, labels = inputs
        return self.scores(turns, restore, labels)

    def predict(self, turns: np.ndarray, restore: np.ndarray, num_turns: int,
                labels: np.ndarray, saved: Optional[TurnHistory] = None, start: int = -1,
                keep: Optional[np.ndarray] = None) -> Prediction:
        """predict_last, with no saved rows and none kept unless given."""
        saved = self.recurrence.empty_rows(0) if saved is None else saved
        keep = np.zeros([1], np.int32) if keep is None else keep
        return self.predict_last(turns, restore, np.int32(num_turns), labels, saved,
                                 np.int32(start), keep)

    def _predict_last(self, turns: tf.Tensor, restore: tf.Tensor, num_turns: tf.Tensor,
                      labels: tf.Tensor, saved: TurnHistory, start: tf.Tensor,
                      keep: tf.Tensor) -> Prediction:
        """Prediction after the last turn of one dialogue: the training recurrence, stopped there,
        resumed from rows saved by an earlier prediction of the same dialogue.

        Args:
          turns: [T, F] the dialogue's turns not in saved, zero-padded to a bucket length T
            (padding.bucket_length) so that few lengths are ever compiled.
          restore: [T] the digression restores (dialogue.restore_indices), padded likewise, as
            rows of saved + turns (TurnRecurrence.call).
          num_turns: scalar int32, the real number of those turns (1 <= num_turns <= T).
          labels: [A, L] label features of the domain's actions.
          saved: [P, 1, ...] the outputs and states after P >= 0 earlier turns (zeros where
            unused).
          start: scalar int32, the row of saved the first turn continues from (-1: none, the
            dialogue's start).
          keep: [K] int32 rows of saved + turns returned in Prediction.kept.
        """
        history = self.recurrence(turns[None], restore[None], num_turns, saved, start)
        last = tf.shape(saved.outputs)[0] + num_turns - 1
        features = self._features(history.outputs[last], turns[None, num_turns - 1])
        scores = self.scores_from(features, labels)[0]
        cell = history.states.cell
        kept = tf.nest.map_structure(lambda rows: tf.gather(rows, keep), history)
        return Prediction(tf.nn.softmax(scores), cell.read_weights[last, 0],
                          cell.write_weights[last, 0], kept)
