"""The Keras model the NTM policy trains: an NTM over the turns, scored against action embeddings.

Shapes: B dialogues, T turns, F turn features, A actions, L label features, D embedding size.

  turn features [B,T,F] -> NTMCell over the turns -> [B,T,U+Hr*W]
  dialogue embedding = Dense(D)([cell output, turn features])          [B,T,D]
  action embedding   = Dense(D)(relu(Dense(H)(label features)))        [A,D]
  scores = dialogue embedding . action embedding                       [B,T,A]

Action embeddings come from the action's name tokens as well as its identity, so an action never
seen in some context (or never seen at all) still gets a sensible score.
"""
from typing import Any, Dict, NamedTuple

import tensorflow as tf

from rasa_ntm_policy.ntm import NTMCell


class Prediction(NamedTuple):
    probabilities: tf.Tensor  # [A] for the last turn
    read_weights: tf.Tensor  # [Hr, N] of the last turn
    write_weights: tf.Tensor  # [Hw, N] of the last turn


class NTMDialogueModel(tf.keras.Model):
    """Scores every action after every turn of a batch of dialogues."""

    def __init__(self, turn_size: int, label_size: int, config: Dict[str, Any]) -> None:
        super().__init__(name="ntm_dialogue_model")
        self.turn_size, self.label_size = turn_size, label_size
        self.cell = NTMCell(units=config["controller_units"], memory_slots=config["memory_slots"],
                            memory_width=config["memory_width"], read_heads=config["read_heads"],
                            write_heads=config["write_heads"], shift_range=config["shift_range"],
                            controller=config["controller"], clip_value=config["clip_value"],
                            sequential_writes=config["sequential_writes"], name="ntm")
        self.rnn = tf.keras.layers.RNN(self.cell, return_sequences=True, name="turns")
        self.input_dropout = tf.keras.layers.Dropout(config["dropout"])
        self.dialogue_embedding = tf.keras.layers.Dense(config["embedding_dimension"],
                                                        name="dialogue_embedding")
        self.label_hidden = tf.keras.layers.Dense(config["label_hidden_units"], activation="relu",
                                                  name="label_hidden")
        self.label_embedding = tf.keras.layers.Dense(config["embedding_dimension"],
                                                     name="label_embedding")
        self.similarity_scale = config["similarity_scale"]
        self.copy = config["copy_mechanism"]
        if self.copy:
            read_size = config["read_heads"] * config["memory_width"]
            self.copy_features = tf.keras.layers.Dense(label_size, name="copy_features")
            self.copy_gate = tf.keras.layers.Dense(1, activation="sigmoid", name="copy_gate")
        self.read_size = config["read_heads"] * config["memory_width"]
        self.skip_turn = config["skip_turn_features"]
        self._jit_step = tf.function(self._cell_step, jit_compile=True)
        self.predict_last = tf.function(self._predict_last, input_signature=[
            tf.TensorSpec([None, turn_size], tf.float32),
            tf.TensorSpec([None, label_size], tf.float32)])

    def build_all(self) -> None:
        """Creates every weight (so checkpoints can be restored into a fresh model)."""
        self.scores(tf.zeros([1, 1, self.turn_size]), tf.zeros([1, self.label_size]))

    def embed_dialogues(self, turns: tf.Tensor, training: bool = False) -> tf.Tensor:
        """turns [B,T,F] -> dialogue embeddings [B,T,D]."""
        hidden = self.rnn(self.input_dropout(turns, training=training))
        return self._dialogue_embedding(hidden, turns)

    def _dialogue_embedding(self, hidden, turns):
        reads = hidden[..., -self.read_size:]
        if self.skip_turn:
            hidden = tf.concat([hidden, turns], axis=-1)
        embedding = self.dialogue_embedding(hidden)
        if self.copy:
            # copy: what the heads read, mapped to label features and embedded like an action
            copied = self.label_embedding(self.label_hidden(self.copy_features(reads)))
            gate = self.copy_gate(hidden)
            embedding = (1.0 - gate) * embedding + gate * copied
        if self.similarity_scale:
            embedding = tf.math.l2_normalize(embedding, -1) * self.similarity_scale
        return embedding

    def embed_labels(self, labels: tf.Tensor) -> tf.Tensor:
        """labels [A,L] -> action embeddings [A,D]."""
        embedding = self.label_embedding(self.label_hidden(labels))
        if self.similarity_scale:
            embedding = tf.math.l2_normalize(embedding, -1)
        return embedding

    def scores(self, turns: tf.Tensor, labels: tf.Tensor, training: bool = False) -> tf.Tensor:
        """[B,T,F], [A,L] -> similarity of every turn's dialogue embedding to every action."""
        return tf.einsum("btd,ad->bta", self.embed_dialogues(turns, training),
                         self.embed_labels(labels))

    def call(self, inputs, training=False):
        turns, labels = inputs
        return self.scores(turns, labels, training)

    # --- prediction: a tf.while_loop over turns whose body is one XLA-compiled cluster --------
    def _cell_step(self, turn, state):
        output, new_state = self.cell(turn, state)
        return output, new_state

    def _predict_last(self, turns: tf.Tensor, labels: tf.Tensor) -> Prediction:
        """turns [T,F] of one dialogue (T >= 1), labels [A,L] -> Prediction for the last turn."""
        batch = turns[None]
        state = self.cell.get_initial_state(batch_size=1)
        output = tf.zeros([1, self.cell.output_size])
        num_turns = tf.shape(turns)[0]

        def body(t, output, state):
            output, state = self._jit_step(batch[:, t], state)
            return t + 1, output, state

        _, output, state = tf.while_loop(lambda t, *_: t < num_turns, body,
                                         (tf.constant(0), output, state))
        embedding = self._dialogue_embedding(output, batch[:, -1])
        scores = tf.linalg.matvec(self.embed_labels(labels), embedding[0])
        return Prediction(tf.nn.softmax(scores), state[-3][0], state[-2][0])
