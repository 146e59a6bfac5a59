"""The Recurrent Embedding Dialogue Policy network (REDP; arXiv 1811.11707), TensorFlow 2.

Shapes: B dialogues, T turns, Fu user features, Fs slot features, L action (label) features,
E embedding size (embed_dim), U LSTM units (rnn_size), A actions.

  user embedding   ue = Dense_a(user features)             [B,T,E]  (zero user features on turns
  slot embedding   se = Dense_slt(slot features)                     that follow a bot action)
  action embedding    = Dense_b(action features)        previous actions pe [B,T,E], labels [A,E]
  per turn t (one XLA while loop):
    query            = [ue_t, h]
    attention before = time attention over past user turns (ue), no shift        -> context_u
    LSTM             ([ue_t + context_u, se_t], (c, h)) -> output (Dense to E)   [B,E]
    attention after  = time attention over past previous actions (pe), shift R  -> context_a
    dialogue embedding = output + context_a                                      [B,E]
    copy mechanism   : if attention after points (> 0.1) at a past turn s whose previous action
                       is (cosine > 0.5) the dialogue embedding, and that is not action_listen,
                       the state (c, h) and the attention's time mask return to those before
                       turn s: the digression since then is forgotten
  scores = similarity(dialogue embedding, action embedding)                       [B,T,A]

The copy mechanism's two extra likelihoods (the copied attention and the state should both
match the copied action) are returned for the loss.
"""
from typing import Any, Dict, NamedTuple, Optional

import tensorflow as tf

from rasa_ntm_policy.redp import attention
from rasa_ntm_policy.redp.lstm import ChronoLayerNormLSTM

COPY_THRESHOLD = 0.1  # attention weight above which a past turn counts as attended to


class DialogueOutputs(NamedTuple):
    embeddings: tf.Tensor  # [B, T, E] dialogue embeddings
    attention_likelihood: tf.Tensor  # [B, T] similarity of the copied attention to its target
    state_likelihood: tf.Tensor  # [B, T] similarity of the state to the copied target


class Prediction(NamedTuple):
    similarities: tf.Tensor  # [A] similarity of the last turn to every action
    user_attention: tf.Tensor  # [T] the last turn's attention over user turns
    action_attention: tf.Tensor  # [T] the last turn's attention over previous actions


def cosine(x, y) -> tf.Tensor:
    """[..., E] x [..., E] -> [...] cosine similarity."""
    return tf.reduce_sum(tf.math.l2_normalize(x, -1) * tf.math.l2_normalize(y, -1), -1)


class FeedForward(tf.keras.layers.Layer):
    """relu -> hidden relu layers with dropout -> linear embedding (REDP's _create_tf_nn +
    _create_embed), L2-regularised kernels."""

    def __init__(self, hidden_sizes, embed_dim: int, droprate: float, regularizer, name: str):
        super().__init__(name=name)
        self.hidden = [tf.keras.layers.Dense(size, activation="relu",
                                             kernel_regularizer=regularizer, name=f"hidden_{i}")
                       for i, size in enumerate(hidden_sizes)]
        self.droprate = droprate
        self.embed = tf.keras.layers.Dense(embed_dim, kernel_regularizer=regularizer,
                                           name="embed")

    def call(self, x, dropout_seed=None):
        x = tf.nn.relu(x)
        for i, layer in enumerate(self.hidden):
            x = layer(x)
            if dropout_seed is not None and self.droprate > 0:
                x = tf.nn.experimental.stateless_dropout(x, self.droprate,
                                                         seed=dropout_seed + [0, i + 1])
        return self.embed(x)


class TimeAttention(tf.keras.layers.Layer):
    """One of REDP's attention mechanisms: Bahdanau scores + timed NTM addressing."""

    def __init__(self, embed_dim: int, shift_range: int, name: str) -> None:
        super().__init__(name=name)
        self.embed_dim = embed_dim
        self.memory_layer = tf.keras.layers.Dense(embed_dim, use_bias=False, name="memory_layer")
        self.query_layer = tf.keras.layers.Dense(embed_dim, use_bias=False, name="query_layer")
        self.gate = tf.keras.layers.Dense(1, activation="sigmoid", name="inter_gate")
        self.gamma = tf.keras.layers.Dense(
            1, activation=lambda a: tf.nn.softplus(a) + 1.0,
            bias_initializer=tf.keras.initializers.Constant(1.0), name="gamma_sharp")
        self.shift = (tf.keras.layers.Dense(2 * shift_range + 1, activation="softmax",
                                            name="shift_weight") if shift_range else None)

    def build(self, query_shape) -> None:
        e = self.embed_dim
        self.v = self.add_weight("attention_v", [e], initializer="glorot_uniform")
        self.g = self.add_weight("attention_g", [],
                                 initializer=tf.keras.initializers.Constant((1.0 / e) ** 0.5))
        self.b = self.add_weight("attention_b", [e], initializer="zeros")
        if not self.memory_layer.built:  # keys() may have built it already: build it once
            self.memory_layer.build([None, e])
        self.query_layer.build(query_shape)
        for layer in (self.gate, self.gamma, self.shift):
            if layer is not None:
                layer.build(query_shape)
        super().build(query_shape)

    def keys(self, memory) -> tf.Tensor:
        return self.memory_layer(memory)

    def call(self, query, keys, previous_scores, valid, t):
        """query [B,Q], keys [B,T,E], previous_scores [B,T], valid [B,T] (valid_turns), t ->
        (weights [B,T], scores [B,T] for the next step)."""
        scores = attention.bahdanau_scores(keys, self.query_layer(query), self.v, self.g, self.b)
        scores = attention.interpolate_scores(scores, previous_scores, self.gate(query), t)
        shift = self.shift(query) if self.shift is not None else None
        return attention.time_attention(scores, valid, shift, self.gamma(query)), scores


class REDPModel(tf.keras.Model):
    """Scores every action after every turn of a batch of dialogues."""

    def __init__(self, user_size: int, slot_size: int, label_size: int, config: Dict[str, Any],
                 shift_range: int) -> None:
        super().__init__(name="redp_model")
        self.sizes = (user_size, slot_size, label_size)
        e, self.units = config["embed_dim"], config["rnn_size"]
        self.embed_dim = e
        regularizer = tf.keras.regularizers.L2(config["C2"] / 2.0)  # C2 * tf.nn.l2_loss
        self.embed_user = FeedForward(config["hidden_layers_sizes_a"], e, config["droprate_a"],
                                      regularizer, "user_embedding")
        self.embed_action = FeedForward(config["hidden_layers_sizes_b"], e, config["droprate_b"],
                                        regularizer, "action_embedding")
        self.embed_slots = tf.keras.layers.Dense(e, kernel_regularizer=regularizer,
                                                 name="slot_embedding")
        self.before = config["attn_before_rnn"]
        self.after = config["attn_after_rnn"]
        self.attend_user = TimeAttention(e, 0, "attention_before") if self.before else None
        self.attend_action = (TimeAttention(e, shift_range, "attention_after")
                              if self.after else None)
        # with attention after the RNN the embedding happens inside the cell (its output layer),
        # so that the attended action can be added to it
        self.lstm = ChronoLayerNormLSTM(self.units, e if self.after else None,
                                        config["layer_norm"], regularizer, name="lstm")
        self.dialogue_out = (None if self.after else
                             tf.keras.layers.Dense(e, kernel_regularizer=regularizer,
                                                   name="dialogue_embedding"))
        self.droprate_rnn = config["droprate_rnn"]
        self.cosine_similarity = config["similarity_type"] == "cosine"
        self.bin_threshold = (config["mu_pos"] - config["mu_neg"]) / 2.0
        self.predict_last = tf.function(self._predict_last, jit_compile=True,
                                        reduce_retracing=True)

    def build_all(self) -> None:
        """Creates every weight (so checkpoints can be restored into a fresh model)."""
        u, s, label = self.sizes
        self.run_dialogues(tf.zeros([1, 1, u]), tf.zeros([1, 1, s]), tf.zeros([1, 1, label]),
                           tf.zeros([label]), tf.constant(1))
        self.embed_action(tf.zeros([1, label]))

    # --- the recurrent part ------------------------------------------------------------------
    def run_dialogues(self, user, slots, previous, listen, num_turns,
                      dropout_seed: Optional[tf.Tensor] = None, keep_attention: bool = False):
        """user [B,T,Fu], slots [B,T,Fs], previous actions [B,T,L], listen [L] (action_listen's
        features), num_turns (scalar, turns to run) -> DialogueOutputs (and, with
        keep_attention, the last run turn's attention weights over user turns and actions)."""
        batch, length = tf.shape(user)[0], tf.shape(user)[1]
        seed = dropout_seed
        ue = self.embed_user(user, seed)
        se = self.embed_slots(slots)
        pe = self.embed_action(previous, None if seed is None else seed + [1, 0])
        ignore_user = tf.cast(tf.reduce_all(user == 0.0, -1), tf.float32)
        ignore_action = tf.cast(tf.reduce_all(previous == 0.0, -1)
                                | tf.reduce_all(previous == listen, -1), tf.float32)
        listen_embedding = tf.stop_gradient(self.embed_action(listen[None])[0])
        keys_user = self.attend_user.keys(ue) if self.before else None
        keys_action = self.attend_action.keys(pe) if self.after else None
        positions = tf.range(length)
        out_size = self.lstm.output_size
        state = dict(
            c=tf.zeros([batch, self.units]), h=tf.zeros([batch, out_size]),
            scores_user=tf.zeros([batch, length]), scores_action=tf.zeros([batch, length]),
            time_mask=tf.zeros([batch, length]),
            # the state at the start of every turn (index s: before turn s), for the copy
            history_c=tf.zeros([length + 1, batch, self.units]),
            history_h=tf.zeros([length + 1, batch, out_size]),
            history_mask=tf.zeros([length + 1, batch, length]),
            attention_user=tf.zeros([batch, length]), attention_action=tf.zeros([batch, length]))
        outputs = [tf.TensorArray(tf.float32, size=length, element_shape=shape)
                   for shape in ([None, self.embed_dim], [None], [None])]

        def body(t, state, outputs):
            past = tf.cast(positions < t, tf.float32)[None, :]  # [1,T] turns before t
            query = tf.concat([ue[:, t], state["h"]], -1)
            new = dict(state)
            context_user = 0.0
            if self.before:
                valid = attention.valid_turns(state["time_mask"], ignore_user, t)
                weights, new["scores_user"] = self.attend_user(
                    query, keys_user, state["scores_user"], valid, t)
                context_user = tf.reduce_sum((weights * past)[:, :, None] * ue, 1)
                new["attention_user"] = weights
            keep = None
            if seed is not None and self.droprate_rnn > 0:
                keep = [tf.cast(tf.random.stateless_uniform(
                    [batch, self.units], seed + [2, 2 * t + k]) >= self.droprate_rnn, tf.float32)
                    / (1.0 - self.droprate_rnn) for k in range(2)]
            cell_output, (c, h) = self.lstm(tf.concat([ue[:, t] + context_user, se[:, t]], -1),
                                            (state["c"], state["h"]), keep)
            time_mask = tf.maximum(state["time_mask"], tf.one_hot(t, length)[None, :])
            ones = tf.ones([batch])
            if self.after:
                valid = attention.valid_turns(state["time_mask"], ignore_action, t)
                weights, new["scores_action"] = self.attend_action(
                    query, keys_action, state["scores_action"], valid, t)
                new["attention_action"] = weights
                context_action = tf.reduce_sum((weights * past)[:, :, None] * pe, 1)
                embedding = cell_output + context_action
                copy = self._copy(weights * past, pe, embedding, listen_embedding, t)
                source, copied, target = copy
                attention_likelihood = tf.where(copied > 0.5, cosine(context_action, target), 1.0)
                state_likelihood = tf.where(
                    copied > 0.5, cosine(cell_output + tf.stop_gradient(context_action), target),
                    1.0)
                gather = tf.stack([source, tf.range(batch)], -1)
                w = copied[:, None]
                c = w * tf.gather_nd(state["history_c"], gather) + (1.0 - w) * c
                h = w * tf.gather_nd(state["history_h"], gather) + (1.0 - w) * embedding
                time_mask = (w * tf.gather_nd(state["history_mask"], gather)
                             + (1.0 - w) * time_mask)
            else:
                embedding = self.dialogue_out(cell_output)
                attention_likelihood = state_likelihood = ones
            new.update(c=c, h=h, time_mask=time_mask)
            for key, value in (("history_c", c), ("history_h", h), ("history_mask", time_mask)):
                new[key] = tf.tensor_scatter_nd_update(state[key], [[t + 1]], value[None])
            outputs = [array.write(t, value) for array, value in
                       zip(outputs, (embedding, attention_likelihood, state_likelihood))]
            return t + 1, new, outputs

        _, state, outputs = tf.while_loop(lambda t, *_: t < num_turns, body,
                                          (tf.constant(0), state, outputs),
                                          maximum_iterations=length)
        embeddings, attention_likelihood, state_likelihood = [
            tf.transpose(array.stack(), [1, 0] + list(range(2, len(array.element_shape) + 1)))
            for array in outputs]
        result = DialogueOutputs(embeddings, attention_likelihood, state_likelihood)
        if keep_attention:
            return result, state["attention_user"], state["attention_action"]
        return result

    def _copy(self, past_weights, pe, embedding, listen_embedding, t):
        """REDP's copy decision at turn t.

        past_weights [B,T] attention after the RNN on turns before t; pe [B,T,E] previous-action
        embeddings; embedding [B,E] dialogue embedding. Returns (source [B] int32: the attended
        turn, copied [B] 1.0 where the state returns to the one before that turn, target [B,E]
        the action embedding the copy should match, the current embedding where no copy).
        """
        past_weights = tf.stop_gradient(past_weights)
        source = tf.argmax(past_weights, -1, output_type=tf.int32)
        attended = tf.cast(tf.reduce_max(past_weights, -1) > COPY_THRESHOLD, tf.float32)
        not_listen = tf.cast(cosine(embedding, listen_embedding) <= self.bin_threshold, tf.float32)
        attended = attended * not_listen
        copied_action = tf.stop_gradient(tf.gather(pe, source, batch_dims=1))
        target = attended[:, None] * copied_action + (1.0 - attended[:, None]) * embedding
        close = tf.cast(cosine(embedding, target) > self.bin_threshold, tf.float32)
        return source, attended * close, tf.stop_gradient(target)

    # --- scores ------------------------------------------------------------------------------
    def similarities(self, dialogue, actions) -> tf.Tensor:
        """dialogue [..., E] x actions [..., E] (broadcast) -> similarity [...]."""
        if self.cosine_similarity:
            return cosine(dialogue, actions)
        return tf.reduce_sum(dialogue * actions, -1)

    def _predict_last(self, user, slots, previous, num_turns, labels, listen) -> Prediction:
        """One dialogue's prediction for its last turn.

        user [T,Fu], slots [T,Fs], previous [T,L] zero-padded to a bucket length T;
        num_turns its real length; labels [A,L]; listen [L].
        """
        outputs, user_attention, action_attention = self.run_dialogues(
            user[None], slots[None], previous[None], listen, num_turns, keep_attention=True)
        # a gather, not a slice: XLA needs a slice's bounds at compile time, which would make
        # num_turns a constant and compile the program again for every dialogue length
        last = tf.gather(outputs.embeddings[0], num_turns - 1)
        similarities = self.similarities(last[None], self.embed_action(labels))
        return Prediction(similarities, user_attention[0], action_attention[0])
