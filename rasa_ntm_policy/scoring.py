"""Scoring every action after a turn: the dialogue and action embeddings, and the token copy.

Shapes: B dialogues, T turns (or none, at prediction), F turn features, A actions, L label
features, D embedding size, K token sources, S = K + 1 (the sources and the mentioned tokens).

  action embedding   = normalise(Dense(D)(label features))                  [A, D]
    a sum of the action's name tokens' embeddings: what training learns about a token (ask,
    more, enddate) it learns for every action with that token, so an action never seen in
    some context still gets a sensible score
  dialogue embedding = scale * normalise(Dense(D)(hidden) + gate * copied)  [..., D]
    copied: the unnormalised action embedding of what the first read head read back from the
    slots' stored previous actions, so a past action (the question pending before a
    digression) can be predicted again whatever it was
  scores = dialogue embedding . action embedding + token copy               [..., A]
  token copy = sum_s gate_s * cosine(source_s, action) + softplus(exact_s) * [action is source_s]
    over idf-weighted label features (token_idf_weights): an action is favoured for the name
    tokens it shares with the previous action, the pending question, the user's message and
    what the user has named so far (utter_explain_people_hotel shares "people" with
    utter_ask_people), and the very action of a source is never pushed down by its copy.
"""
from typing import NamedTuple, Tuple

import numpy as np
import tensorflow as tf

# the cosine of the two embeddings is multiplied by this (a softmax temperature)
SIMILARITY_SCALE = 10.0
# idf weights never fall below this, so a token every action has still counts a little
IDF_FLOOR = 0.1
EXACT_MATCH = 1.0 - 1e-4  # a cosine above this is the same set of tokens


class DialogueFeatures(NamedTuple):
    """What the scores of a turn are computed from."""

    cell_output: tf.Tensor  # [..., U + Hr * W'] the NTM cell's output, read vectors last
    mentioned: tf.Tensor  # [..., L] the action tokens the user has named so far
    turns: tf.Tensor  # [..., F] the turn's own features

    @property
    def hidden(self) -> tf.Tensor:
        """[..., U + Hr * W' + L + F]: everything, side by side."""
        return tf.concat([self.cell_output, self.mentioned, self.turns], -1)


def token_idf_weights(labels: tf.Tensor) -> tf.Tensor:
    """labels [A, L] (the domain's actions' label features) -> [L] a weight per label feature:
    log((A + 1) / (n + 1)) + IDF_FLOOR, where n of the A actions have the feature.

    A token every action has (`utter` nearly so) weighs little, a slot's token (`startdate`)
    much: the cosine of utter_ask_startdate with utter_explain_startdate_hotel is then mostly
    their shared slot, not their shared `utter`.
    """
    labels = tf.convert_to_tensor(labels, tf.float32)
    actions = tf.cast(tf.shape(labels)[0], tf.float32)
    having = tf.reduce_sum(tf.cast(labels > 0, tf.float32), axis=0)
    return tf.math.log((actions + 1.0) / (having + 1.0)) + IDF_FLOOR


class ActionEmbedding(tf.keras.layers.Layer):
    """labels [A, L] -> unit action embeddings [A, D] (linear in the label features)."""

    def __init__(self, dimension: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.dense = tf.keras.layers.Dense(dimension, name="label_embedding")

    def unnormalised(self, labels: tf.Tensor) -> tf.Tensor:
        return self.dense(labels)

    def call(self, labels: tf.Tensor) -> tf.Tensor:
        return tf.math.l2_normalize(self.dense(labels), -1)


class DialogueEmbedding(tf.keras.layers.Layer):
    """DialogueFeatures -> dialogue embeddings [..., D] of norm SIMILARITY_SCALE, with the copy
    of the action the first read head brought back.

    Args:
      dimension: D.
      action_embedding: the ActionEmbedding the copied action is embedded with (shared).
      label_size: L, the first L columns of each read vector are a stored action.
      read_size: Hr * W', the read vectors' width at the end of the cell output.
    """

    def __init__(self, dimension: int, action_embedding: ActionEmbedding, label_size: int,
                 read_size: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.dense = tf.keras.layers.Dense(dimension, name="dialogue_embedding")
        self.copy_gate = tf.keras.layers.Dense(1, activation="sigmoid", name="copy_gate")
        self.action_embedding = action_embedding
        self.label_size, self.read_size = label_size, read_size

    def call(self, features: DialogueFeatures) -> tf.Tensor:
        hidden = features.hidden
        reads = features.cell_output[..., -self.read_size:]
        copied = self.action_embedding.unnormalised(reads[..., :self.label_size])
        embedding = self.dense(hidden) + self.copy_gate(hidden) * copied
        return tf.math.l2_normalize(embedding, -1) * SIMILARITY_SCALE


class TokenCopy(tf.keras.layers.Layer):
    """The token copy's part of each action's score (see the module docstring).

    Args:
      token_sources: [F, K, L] DialogueFeaturizer.token_sources: K maps from a turn's features
        to action-name tokens (the previous action, the context action, the user's message).
    """

    def __init__(self, token_sources: np.ndarray, **kwargs) -> None:
        super().__init__(**kwargs)
        self.token_sources = tf.constant(token_sources, tf.float32)
        self.num_sources = int(token_sources.shape[1]) + 1  # and the mentioned tokens
        # per source a gate on its cosine, and one on its exact match
        self.gate = tf.keras.layers.Dense(2 * self.num_sources, name="token_gate")

    def parts(self, features: DialogueFeatures,
              labels: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
        """gates [..., 2S] and overlaps [..., 2S, A]: S cosines, then the same S sources' exact
        matches; the copy's part of action a's score is sum_s gates[s] * overlaps[s, a]."""
        sources = tf.einsum("...f,fkl->...kl", features.turns, self.token_sources)
        sources = tf.concat([sources, features.mentioned[..., None, :]], -2)
        weights = token_idf_weights(labels)
        sources = tf.math.l2_normalize(sources * weights, -1)
        actions = tf.math.l2_normalize(labels * weights, -1)
        cosine = tf.einsum("...kl,al->...ka", sources, actions)
        exact = tf.cast(cosine > EXACT_MATCH, tf.float32)
        cosine_gates, exact_gates = tf.split(self.gate(features.hidden), 2, axis=-1)
        # an exact copy adds to the score of the action it copies, never takes from it
        gates = tf.concat([cosine_gates, tf.nn.softplus(exact_gates)], -1)
        return gates, tf.concat([cosine, exact], -2)

    def call(self, features: DialogueFeatures, labels: tf.Tensor) -> tf.Tensor:
        """DialogueFeatures, labels [A, L] -> [..., A]."""
        gates, overlap = self.parts(features, labels)
        return tf.einsum("...k,...ka->...a", gates, overlap)
