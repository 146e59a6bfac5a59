"""The Keras model the NTM policy trains: an NTM over the turns, scored against action embeddings.

Shapes: B dialogues, T turns, F turn features, A actions, L label features, D embedding size.

  turn features [B,T,F] -> NTMCell over the turns (digressions undone) -> [B,T,U+Hr*W']
    (with mentioned_tokens, also the bag of action tokens the user has named so far [B,T,L])
  action embedding   = Dense(D)(label features): a sum of its name tokens' embeddings [A,D]
    (with label_hidden_units H > 0, Dense(D)(relu(Dense(H)(label features))))
  copied             = action embedding of what the first read head read back   [B,T,D]
  dialogue embedding = Dense(D)([cell output, turn features]) + gate * copied   [B,T,D]
  scores = scale * cosine(dialogue embedding, action embedding)                 [B,T,A]
    (+ with token_copy, for each token source k: gate_k * cosine(source_k, label features),
     the features weighted by token_idf_weights with token_idf,
     and with token_copy_exact, exact_gate_k * [the action is exactly source k's], where
     exact_gate_k goes through a softplus with exact_copy_only_adds: a copy never lowers a score)

Each memory slot is W' = W + L wide: W learnt columns and, with the copy mechanism, the L label
features of the turn's previous action, stored verbatim, so a read can bring back a past action
(the question pending before a digression) whatever it was. Action embeddings come from the
action's name tokens, so an action never seen in some context (or never seen at all) still gets a
sensible score. The default linear action embedding keeps that score compositional: what training
learns about a token (ask, more, enddate) it learns for every action with that token, and an
action is pushed down only through tokens it shares with others; a hidden layer can learn each
combination of tokens apart (it did worse from few stories: see the README).
"""
from typing import Any, Dict, NamedTuple, Optional

import numpy as np
import tensorflow as tf

from rasa_ntm_policy.ntm import NTMCell


class Prediction(NamedTuple):
    probabilities: tf.Tensor  # [A] for the last turn
    read_weights: tf.Tensor  # [Hr, N] of the last turn
    write_weights: tf.Tensor  # [Hw, N] of the last turn


class NTMDialogueModel(tf.keras.Model):
    """Scores every action after every turn of a batch of dialogues."""

    def __init__(self, turn_size: int, label_size: int, config: Dict[str, Any],
                 token_sources: Optional[np.ndarray] = None) -> None:
        super().__init__(name="ntm_dialogue_model")
        self.turn_size, self.label_size = turn_size, label_size
        self.copy = config["copy_mechanism"]
        # With the copy mechanism each slot also stores, verbatim, the label features of the
        # turn's previous action (the last label_size columns of the turn features).
        value_size = label_size if self.copy else 0
        self.slot_width = config["memory_width"] + value_size
        self.cell = NTMCell(units=config["controller_units"], memory_slots=config["memory_slots"],
                            memory_width=self.slot_width, read_heads=config["read_heads"],
                            write_heads=config["write_heads"], shift_range=config["shift_range"],
                            controller=config["controller"], clip_value=config["clip_value"],
                            sequential_writes=config["sequential_writes"],
                            value_size=value_size, name="ntm")
        self.dropout = config["dropout"]
        self.dialogue_embedding = tf.keras.layers.Dense(config["embedding_dimension"],
                                                        name="dialogue_embedding")
        # label_hidden_units 0 makes the label embedding linear (a sum of token embeddings)
        self.label_hidden = (tf.keras.layers.Dense(config["label_hidden_units"],
                                                   activation="relu", name="label_hidden")
                             if config["label_hidden_units"] else tf.identity)
        self.label_embedding = tf.keras.layers.Dense(config["embedding_dimension"],
                                                     name="label_embedding")
        self.similarity_scale = config["similarity_scale"]
        if self.copy:
            self.copy_gate = tf.keras.layers.Dense(1, activation="sigmoid", name="copy_gate")
        self.read_size = config["read_heads"] * self.slot_width
        self.skip_turn = config["skip_turn_features"]
        self.token_sources = None
        self.mentioned_size = 0
        if config.get("mentioned_tokens") and token_sources is not None:
            # the action tokens the user has mentioned so far (a restorable part of the state),
            # from the user's source (the last of DialogueFeaturizer.token_sources)
            self.user_tokens = tf.constant(token_sources[:, -1], tf.float32)  # [F, L]
            self.mentioned_size = label_size
        if config.get("token_copy") and token_sources is not None:
            # [F, K, L]: see DialogueFeaturizer.token_sources
            self.token_sources = tf.constant(token_sources, tf.float32)
            self.exact_match = bool(config.get("token_copy_exact"))
            self.token_idf = bool(config.get("token_idf"))
            self.exact_only_adds = bool(config.get("exact_copy_only_adds"))
            sources = token_sources.shape[1] + (1 if self.mentioned_size else 0)
            self.token_gate = tf.keras.layers.Dense(
                sources * (2 if self.exact_match else 1), name="token_gate")
        # the whole prediction loop is one XLA program, compiled once per bucket length
        self.predict_last = tf.function(self._predict_last, jit_compile=True,
                                        reduce_retracing=True)

    def build_all(self) -> None:
        """Creates every weight (so checkpoints can be restored into a fresh model)."""
        self.scores(tf.zeros([1, 1, self.turn_size]), tf.fill([1, 1], -1),
                    tf.zeros([1, self.label_size]))

    def _initial_state(self, batch):
        state = self.cell.get_initial_state(batch_size=batch)
        if self.mentioned_size:
            state = state + [tf.zeros([batch, self.mentioned_size])]
        return state

    @property
    def output_size(self) -> int:
        return self.cell.output_size + self.mentioned_size

    def _cell_state(self, state):
        """The NTM cell's part of a model state (all of it but the mentioned tokens)."""
        return state[:-1] if self.mentioned_size else state

    def _step(self, inputs, state):
        """One turn: the cell, and the bag of mentioned tokens (with mentioned_tokens)."""
        if not self.mentioned_size:
            return self.cell(inputs, state)
        output, cell_state = self.cell(inputs, self._cell_state(state))
        mentioned = tf.maximum(state[-1], tf.cast(tf.matmul(inputs, self.user_tokens) > 0,
                                                  tf.float32))
        return tf.concat([output, mentioned], -1), list(cell_state) + [mentioned]

    def run_turns(self, turns: tf.Tensor, restore: tf.Tensor,
                  active_turns: Optional[tf.Tensor] = None) -> tf.Tensor:
        """The cell over turns [B,T,F] with digression restores [B,T] -> outputs [B,T,O].

        Where restore[b, t] = s >= 0, the memory state (and output) after turn t is the one after
        turn s: the digression between them is undone (see featurizer.restore_indices).
        With active_turns (a scalar <= T: the batch's longest dialogue), the loop stops there
        and the outputs of the later, padding turns are zeros; one compiled program serves
        batches of any length.
        """
        if not self.cell.built:
            self.cell.build(turns.shape)
        batch = turns.shape[0] if turns.shape[0] is not None else tf.shape(turns)[0]
        num_turns = turns.shape[1] if turns.shape[1] is not None else tf.shape(turns)[1]
        state = self._initial_state(batch)
        output = tf.zeros([batch, self.output_size])
        # the state and output after every turn, [T, B, ...], read back by gathering one row
        # per dialogue (its gradient is a scatter: no stored copies of the history)
        history = [tf.zeros(tf.concat([[num_turns], tf.shape(v)], 0)) for v in [output] + state]
        rows = tf.range(batch)

        def select(past, source):
            # past [T, B, ...], source [B] -> [B, ...]: row b of past[source[b]]
            return tf.gather_nd(past, tf.stack([source, rows], axis=-1))

        def body(t, state, history):
            output, state = self._step(turns[:, t], state)
            values = [output] + list(state)
            source = restore[:, t]
            has_source = source >= 0
            safe = tf.maximum(source, 0)
            values = [tf.where(tf.reshape(has_source, [-1] + [1] * (len(v.shape) - 1)),
                               select(h, safe), v) for h, v in zip(history, values)]
            history = [tf.tensor_scatter_nd_update(h, [[t]], v[None])
                       for h, v in zip(history, values)]
            return t + 1, values[1:], history

        active = num_turns if active_turns is None else active_turns
        _, _, history = tf.while_loop(lambda t, *_: t < active, body,
                                      (tf.constant(0), state, history),
                                      maximum_iterations=num_turns)
        return tf.transpose(history[0], [1, 0, 2])

    def dialogue_features(self, turns: tf.Tensor, restore: tf.Tensor,
                        dropout_seed: Optional[tf.Tensor] = None,
                        active_turns: Optional[tf.Tensor] = None) -> tf.Tensor:
        """turns [B,T,F], restore [B,T] -> the dialogue features the scores are made from
        (_features_from_outputs: step outputs and turn features, [B,T,O+F], the read vectors
        [B,T,Hr*W'] and the turn features [B,T,F]; see run_turns).

        With a dropout_seed ([2] int32, training only), input features are dropped with a
        stateless random mask, so training is reproducible from the policy's random_seed.
        """
        inputs = turns
        if dropout_seed is not None and self.dropout > 0:
            keep = tf.random.stateless_uniform(tf.shape(turns), dropout_seed) >= self.dropout
            inputs = tf.where(keep, turns / (1.0 - self.dropout), 0.0)
        hidden = self.run_turns(inputs, restore, active_turns)
        return self._features_from_outputs(hidden, turns)

    def _features_from_outputs(self, hidden, turns):
        """step outputs [..., O] and turn features [..., F] -> what the scores are made from."""
        cell_output = hidden[..., :self.cell.output_size]
        reads = cell_output[..., -self.read_size:]
        if self.skip_turn:
            hidden = tf.concat([hidden, turns], axis=-1)
        return hidden, reads, turns

    def _token_bonus(self, features, labels):
        """[..., A]: for each token source (see DialogueFeaturizer.token_sources, and the
        mentioned tokens), a learnt gate times the cosine between the source's tokens and each
        action's label features; with token_copy_exact, a second gate per source times whether
        the action is exactly the source's (a gate that is never negative with
        exact_copy_only_adds)."""
        gates, overlap = self.token_copy_parts(features, labels)
        return tf.einsum("...k,...ka->...a", gates, overlap)

    def token_copy_parts(self, features, labels):
        """The terms of _token_bonus: gates [..., S] and overlaps [..., S, A], S = K sources
        (and the mentioned tokens), then with token_copy_exact the same sources' exact matches;
        the bonus of action a is sum_s gates[s] * overlaps[s, a]. With token_idf the overlaps
        are cosines of the idf-weighted features (token_idf_weights)."""
        hidden, _, turns = features
        sources = tf.einsum("...f,fkl->...kl", turns, self.token_sources)
        if self.mentioned_size:
            mentioned = hidden[..., self.cell.output_size:self.output_size]
            sources = tf.concat([sources, mentioned[..., None, :]], -2)
        if self.token_idf:
            weights = token_idf_weights(labels)
            sources, labels = sources * weights, labels * weights
        sources = tf.math.l2_normalize(sources, -1)
        overlap = tf.einsum("...kl,al->...ka", sources, tf.math.l2_normalize(labels, -1))
        if self.exact_match:
            # and, per source, whether the action is exactly the source's (cosine 1)
            overlap = tf.concat([overlap, tf.cast(overlap > 1.0 - 1e-4, tf.float32)], -2)
        gates = self.token_gate(hidden)
        if self.exact_match and self.exact_only_adds:
            # a copy adds to the score of the action it copies, never takes from it
            cosine_gates, exact_gates = tf.split(gates, 2, axis=-1)
            gates = tf.concat([cosine_gates, tf.nn.softplus(exact_gates)], -1)
        return gates, overlap

    def embedding_scores(self, features, labels):
        """[..., A] the scores without the token bonus: scaled cosine of the dialogue and
        action embeddings."""
        return tf.einsum("...d,ad->...a", self._dialogue_embedding(features),
                         self.embed_labels(labels))

    def _dialogue_embedding(self, features):
        hidden, reads, _ = features
        embedding = self.dialogue_embedding(hidden)
        if self.copy:
            # copy: the previous-action features the first read head found, embedded like an
            # action, so a past action can be predicted again whatever it was
            copied = self.label_embedding(self.label_hidden(reads[..., :self.label_size]))
            gate = self.copy_gate(hidden)
            embedding = embedding + gate * copied
        if self.similarity_scale:
            embedding = tf.math.l2_normalize(embedding, -1) * self.similarity_scale
        return embedding

    def embed_labels(self, labels: tf.Tensor) -> tf.Tensor:
        """labels [A,L] -> action embeddings [A,D]."""
        embedding = self.label_embedding(self.label_hidden(labels))
        if self.similarity_scale:
            embedding = tf.math.l2_normalize(embedding, -1)
        return embedding

    def scores(self, turns: tf.Tensor, restore: tf.Tensor, labels: tf.Tensor,
               dropout_seed: Optional[tf.Tensor] = None,
               active_turns: Optional[tf.Tensor] = None) -> tf.Tensor:
        """[B,T,F], [B,T], [A,L] -> similarity of each turn's dialogue embedding to each action."""
        features = self.dialogue_features(turns, restore, dropout_seed, active_turns)
        return self._scores(features, labels)

    def _scores(self, features, labels):
        scores = self.embedding_scores(features, labels)
        if self.token_sources is not None:
            scores = scores + self._token_bonus(features, labels)
        return scores

    def call(self, inputs):
        turns, restore, labels = inputs
        return self.scores(turns, restore, labels)

    # --- prediction: one XLA program, a while loop over the turns around the cell step -------
    def _predict_last(self, turns: tf.Tensor, num_turns: tf.Tensor, last_turn: tf.Tensor,
                      labels: tf.Tensor) -> Prediction:
        """Prediction for the last turn of one dialogue.

        Args:
          turns: [T, F] the dialogue's folded turns (featurizer.folded_turns), zero-padded to a
            bucket length T (see bucket_length) so that few lengths are ever compiled.
          num_turns: scalar int32, the real number of turns (1 <= num_turns <= T).
          last_turn: [F] the features of the dialogue's actual last turn.
          labels: [A, L] label features of the domain's actions.
        """
        state = self._initial_state(1)
        output = tf.zeros([1, self.output_size])

        def body(t, output, state):
            output, state = self._step(turns[None, t], state)
            return t + 1, output, state

        _, output, state = tf.while_loop(lambda t, *_: t < num_turns, body,
                                         (tf.constant(0), output, state))
        scores = self._scores(self._features_from_outputs(output, last_turn[None]), labels)[0]
        cell_state = self._cell_state(state)
        return Prediction(tf.nn.softmax(scores), cell_state[-3][0], cell_state[-2][0])


IDF_FLOOR = 0.1


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


def bucket_length(num_turns: int, smallest: int = 16) -> int:
    """The padded length a dialogue of num_turns is predicted at: the next power of two."""
    length = smallest
    while length < num_turns:
        length *= 2
    return length
