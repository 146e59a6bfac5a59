"""The REDP network (redp/model.py): shapes, the XLA prediction program, causality, copying."""
import time
import warnings

import numpy as np
import pytest
import tensorflow as tf

from rasa_ntm_policy.padding import bucket_length
from rasa_ntm_policy.redp.config import DEFAULTS
from rasa_ntm_policy.redp.model import COPY_THRESHOLD, REDPModel, cosine

U, S, L, E, UNITS = 7, 3, 5, 6, 8  # user, slot and label features, embed_dim, rnn_size
LISTEN = np.eye(L, dtype=np.float32)[0]  # action_listen's label features


def make_model(shift_range=2, **options):
    config = {**DEFAULTS, "rnn_size": UNITS, "embed_dim": E, **options}
    tf.keras.utils.set_random_seed(0)
    model = REDPModel(U, S, L, config, shift_range)
    model.build_all()
    return model


def dialogues(batch=2, turns=7, seed=0):
    """REDP-like inputs: user features only after action_listen, one-hot previous actions."""
    rng = np.random.default_rng(seed)
    previous = np.eye(L, dtype=np.float32)[rng.integers(0, L, size=[batch, turns])]
    previous[:, 0] = LISTEN
    user = (rng.uniform(size=[batch, turns, U]) < 0.4).astype(np.float32)
    user[:, :, 0] = 1.0
    user[previous[..., 0] == 0] = 0.0  # no user features after a bot action
    slots = (rng.uniform(size=[batch, turns, S]) < 0.3).astype(np.float32)
    return user, slots, previous


def padded(x, length):
    out = np.zeros((x.shape[0], length) + x.shape[2:], np.float32)
    out[:, :x.shape[1]] = x
    return out


@pytest.fixture(scope="module")
def model():
    return make_model()


# --- shapes and the parts of the network ----------------------------------------------------
@pytest.mark.parametrize("before, after", [(True, True), (True, False), (False, True),
                                           (False, False)])
def test_run_dialogues_shapes_for_every_attention_setting(before, after):
    model = make_model(attn_before_rnn=before, attn_after_rnn=after)
    user, slots, previous = dialogues(batch=3, turns=5)
    outputs, user_attention, action_attention = model.run_dialogues(
        user, slots, previous, LISTEN, tf.constant(5), keep_attention=True)
    assert outputs.embeddings.shape == (3, 5, E)
    assert outputs.attention_likelihood.shape == outputs.state_likelihood.shape == (3, 5)
    assert user_attention.shape == action_attention.shape == (3, 5)
    assert np.all(np.isfinite(outputs.embeddings.numpy()))
    for attention, used in ((user_attention, before), (action_attention, after)):
        if used:  # the last turn's attention: a distribution over the turns so far
            np.testing.assert_allclose(attention.numpy().sum(-1), 1.0, atol=1e-5)
        else:
            np.testing.assert_array_equal(attention.numpy(), 0.0)
    if not after:  # no copy mechanism, no extra likelihoods
        np.testing.assert_array_equal(outputs.attention_likelihood.numpy(), 1.0)
        np.testing.assert_array_equal(outputs.state_likelihood.numpy(), 1.0)
    assert model.embed_action(np.eye(L, dtype=np.float32)).shape == (L, E)
    # attention after the RNN: the embedding layer is the LSTM's output layer
    assert (model.lstm.out_layer is not None) == after
    assert (model.dialogue_out is None) == after


def test_shift_layer_size_follows_the_shift_range():
    assert make_model(shift_range=3).attend_action.shift.units == 7
    assert make_model(shift_range=0).attend_action.shift is None
    assert make_model().attend_user.shift is None  # no shift before the RNN


def test_building_creates_each_weight_once_without_initializer_warnings():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = make_model()
    # Keras warns when an initializer makes a second variable: a layer built twice
    assert not [w for w in caught if "initializer" in str(w.message).lower()]
    assert model.attend_user.memory_layer.built and model.attend_action.memory_layer.built


def test_similarities_cosine_and_inner():
    cos, inner = make_model(), make_model(similarity_type="inner")
    a, b = np.array([[3.0, 4.0]], np.float32), np.array([[4.0, 3.0]], np.float32)
    np.testing.assert_allclose(cos.similarities(a, b).numpy(), [24 / 25], atol=1e-6)
    np.testing.assert_allclose(inner.similarities(a, b).numpy(), [24.0], atol=1e-5)
    # zero vectors: finite
    assert np.isfinite(cos.similarities(np.zeros([1, 2], np.float32), b).numpy()).all()


# --- prediction -----------------------------------------------------------------------------
def prediction_args(user, slots, previous, turns, length):
    labels = np.eye(L, dtype=np.float32)[[0, 1, 2, 3, 4, 2]]
    labels[5, 4] = 1.0  # a label with two features
    return (padded(user, length)[0], padded(slots, length)[0], padded(previous, length)[0],
            np.int32(turns), labels, LISTEN)


def test_prediction_is_one_xla_program_with_one_loop_and_matches_run_dialogues(model):
    user, slots, previous = dialogues(batch=1, turns=7)
    args = prediction_args(user, slots, previous, 7, bucket_length(7))
    hlo = model.predict_last.experimental_get_compiler_ir(*args)(stage="hlo")
    assert hlo.count(" while(") == 1, "one loop over the turns, inside the XLA program"

    prediction = model.predict_last(*args)
    outputs, user_attention, action_attention = model.run_dialogues(
        user, slots, previous, LISTEN, tf.constant(7), keep_attention=True)
    expected = model.similarities(outputs.embeddings[0, -1][None], model.embed_action(args[4]))
    assert prediction.similarities.shape == (6,)
    np.testing.assert_allclose(prediction.similarities.numpy(), expected.numpy(), atol=1e-5)
    np.testing.assert_allclose(prediction.user_attention.numpy()[:7], user_attention[0], atol=1e-5)
    np.testing.assert_allclose(prediction.action_attention.numpy()[:7], action_attention[0],
                               atol=1e-5)
    np.testing.assert_array_equal(prediction.user_attention.numpy()[7:], 0.0)
    np.testing.assert_array_equal(prediction.action_attention.numpy()[7:], 0.0)


def test_one_compile_per_bucket_whatever_the_dialogue_length():
    """num_turns is an input of the XLA program, not a constant folded into it: a new dialogue
    length within a bucket must not compile the program again (seconds per prediction). A
    compile takes seconds, a cached program milliseconds: 10x is a wide margin."""
    model = make_model()
    user, slots, previous = dialogues(batch=1, turns=14, seed=7)
    start = time.perf_counter()
    model.predict_last(*prediction_args(user, slots, previous, 5, 16))
    first = time.perf_counter() - start  # tracing and compiling
    for turns in (2, 9, 14):
        start = time.perf_counter()
        model.predict_last(*prediction_args(user, slots, previous, turns, 16))
        assert time.perf_counter() - start < first / 10, f"compiled again for {turns} turns"
    assert model.predict_last.experimental_get_tracing_count() == 1


def test_zero_padding_after_the_real_turns_changes_nothing(model):
    user, slots, previous = dialogues(batch=1, turns=7, seed=1)
    short = model.predict_last(*prediction_args(user, slots, previous, 7, 16))
    long = model.predict_last(*prediction_args(user, slots, previous, 7, 64))
    np.testing.assert_allclose(long.similarities.numpy(), short.similarities.numpy(), atol=1e-6)
    np.testing.assert_allclose(long.action_attention.numpy()[:16], short.action_attention.numpy(),
                               atol=1e-6)
    # an earlier turn's prediction only looks at the turns up to it
    first3 = model.predict_last(*prediction_args(user[:, :3], slots[:, :3], previous[:, :3], 3,
                                                 16))
    cut = model.predict_last(*prediction_args(user, slots, previous, 3, 16))
    np.testing.assert_allclose(cut.similarities.numpy(), first3.similarities.numpy(), atol=1e-6)


def test_run_dialogues_is_causal_and_dialogues_in_a_batch_are_independent(model):
    """Training pads dialogues to the longest one and batches them: neither changes a turn."""
    user, slots, previous = dialogues(batch=3, turns=6, seed=2)
    alone = model.run_dialogues(user[:1], slots[:1], previous[:1], LISTEN, tf.constant(6))
    batch = model.run_dialogues(padded(user, 9), padded(slots, 9), padded(previous, 9), LISTEN,
                                tf.constant(9))
    np.testing.assert_allclose(batch.embeddings.numpy()[0, :6], alone.embeddings.numpy()[0],
                               atol=1e-5)
    np.testing.assert_allclose(batch.attention_likelihood.numpy()[0, :6],
                               alone.attention_likelihood.numpy()[0], atol=1e-5)
    # a later turn changes no earlier output
    changed = previous.copy()
    changed[:, 4] = np.eye(L)[3]
    other = model.run_dialogues(user, slots, changed, LISTEN, tf.constant(6))
    again = model.run_dialogues(user, slots, previous, LISTEN, tf.constant(6))
    np.testing.assert_allclose(other.embeddings.numpy()[:, :4], again.embeddings.numpy()[:, :4],
                               atol=1e-6)
    assert not np.allclose(other.embeddings.numpy()[:, 4], again.embeddings.numpy()[:, 4])


def test_dropout_is_seeded_and_off_without_a_seed(model):
    user, slots, previous = dialogues(batch=2, turns=5, seed=3)

    def run(seed=None):
        return model.run_dialogues(user, slots, previous, LISTEN, tf.constant(5),
                                   dropout_seed=seed).embeddings.numpy()

    seed = tf.constant([4, 5])
    np.testing.assert_array_equal(run(seed), run(seed))
    assert not np.allclose(run(seed), run())  # droprate_rnn 0.1 by default
    assert not np.allclose(run(seed), run(tf.constant([6, 7])))
    np.testing.assert_array_equal(run(), run())


def test_gradients_reach_every_trainable_weight_and_are_finite(model):
    user, slots, previous = dialogues(batch=2, turns=6, seed=4)
    with tf.GradientTape() as tape:
        outputs = model.run_dialogues(user, slots, previous, LISTEN, tf.constant(6),
                                      dropout_seed=tf.constant([1, 2]))
        actions = model.embed_action(np.eye(L, dtype=np.float32))
        sims = model.similarities(outputs.embeddings[:, :, None], actions)
        loss = (tf.reduce_sum(sims * np.arange(L, dtype=np.float32))
                + tf.reduce_sum(outputs.attention_likelihood + outputs.state_likelihood))
    grads = tape.gradient(loss, model.trainable_variables)
    for variable, grad in zip(model.trainable_variables, grads):
        assert grad is not None, variable.name
        assert np.all(np.isfinite(tf.convert_to_tensor(grad).numpy())), variable.name


# --- the copy mechanism ---------------------------------------------------------------------
def unit(*xs):
    v = np.array(xs, np.float32)
    return v / np.linalg.norm(v)


def copy_case(weights, attended, embedding, listen=unit(0, 0, 0, 1)):
    """One dialogue at t = 4 attending to turns 0..3 with weights; turn 2's previous action
    has embedding `attended`, the other turns unrelated ones."""
    pe = np.stack([unit(0, 1, 0, 0), unit(0, 0, 1, 0), attended, unit(0, -1, 1, 0),
                   unit(1, 1, 1, 1)])[None]
    return (np.array([weights], np.float32), pe, np.array([embedding], np.float32), listen,
            tf.constant(4))


def angled(c):
    """A unit vector with cosine c to (1, 0, 0, 0)."""
    return np.array([c, np.sqrt(1 - c * c), 0, 0], np.float32)


def test_copy_when_attention_points_at_a_matching_previous_action(model):
    source, copied, target = model._copy(*copy_case([0.05, 0.05, 0.8, 0.1, 0.0],
                                                    angled(0.9), unit(1, 0, 0, 0)))
    assert int(source[0]) == 2 and float(copied[0]) == 1.0
    np.testing.assert_allclose(target.numpy()[0], angled(0.9), atol=1e-6)


@pytest.mark.parametrize("weight, copies", [(0.09, False), (COPY_THRESHOLD, False),
                                            (0.11, True), (1.0, True)])
def test_copy_needs_an_attention_weight_above_the_threshold(model, weight, copies):
    rest = (1.0 - weight) / 4
    weights = [min(rest, weight - 0.01)] * 2 + [weight, min(rest, weight - 0.01), 0.0]
    source, copied, target = model._copy(*copy_case(weights, angled(0.9), unit(1, 0, 0, 0)))
    assert float(copied[0]) == float(copies)
    if not copies:  # the target is then the embedding itself: no extra loss
        np.testing.assert_allclose(target.numpy()[0], unit(1, 0, 0, 0), atol=1e-6)


@pytest.mark.parametrize("similarity, copies", [(0.45, False), (0.5, False), (0.55, True),
                                                (-0.9, False)])
def test_copy_needs_the_embedding_close_to_the_attended_previous_action(model, similarity,
                                                                       copies):
    _, copied, _ = model._copy(*copy_case([0.0, 0.0, 0.9, 0.1, 0.0], angled(similarity),
                                          unit(1, 0, 0, 0)))
    assert float(copied[0]) == float(copies)


def test_no_copy_when_the_embedding_is_action_listens(model):
    """Listening is never a state to return to (rasa_core's tensor_not_to_copy)."""
    for listen, copies in ((angled(0.6), False), (angled(0.4), True)):
        _, copied, _ = model._copy(*copy_case([0.0, 0.0, 0.9, 0.1, 0.0], angled(0.9),
                                              unit(1, 0, 0, 0), listen=listen))
        assert float(copied[0]) == float(copies)


def test_copy_thresholds_follow_the_margins():
    """The similarity threshold is (mu_pos - mu_neg) / 2, as rasa_core's binary likelihood."""
    strict = make_model(mu_pos=0.9, mu_neg=-0.5)  # threshold 0.7
    case = copy_case([0.0, 0.0, 0.9, 0.1, 0.0], angled(0.65), unit(1, 0, 0, 0))
    assert float(strict._copy(*case)[1][0]) == 0.0
    case = copy_case([0.0, 0.0, 0.9, 0.1, 0.0], angled(0.75), unit(1, 0, 0, 0))
    assert float(strict._copy(*case)[1][0]) == 1.0


def test_copy_decides_row_by_row_and_passes_no_gradient(model):
    pe = np.stack([np.stack([unit(0, 1, 0, 0), angled(0.9), unit(0, 0, 1, 0)])] * 3)
    weights = tf.constant([[0.1, 0.9, 0.0], [0.9, 0.1, 0.0], [0.05, 0.05, 0.0]])
    embedding = tf.constant(np.stack([unit(1, 0, 0, 0)] * 3))
    with tf.GradientTape() as tape:
        tape.watch([weights, embedding])
        source, copied, target = model._copy(weights, pe, embedding, unit(0, 0, 0, 1),
                                             tf.constant(2))
        value = tf.reduce_sum(target)
    assert source.numpy().tolist()[:2] == [1, 0]
    assert copied.numpy().tolist() == [1.0, 0.0, 0.0]
    assert all(g is None for g in tape.gradient(value, [weights, embedding]))


def open_gates(model):
    """Interpolation gates of 1: each turn's attention scores its turns afresh, so a dialogue
    whose state was restored is exactly one that never had the digression."""
    for layer in (model.attend_user, model.attend_action):
        layer.gate.kernel.assign(tf.zeros_like(layer.gate.kernel))
        layer.gate.bias.assign([40.0])


def forced_copy(model, at, source):
    """Replaces the copy decision: copy from turn `source` at turn `at`, never otherwise."""
    def copy(past_weights, pe, embedding, listen_embedding, t):
        batch = tf.shape(embedding)[0]
        now = tf.cast(t == at, tf.float32) * tf.ones([batch])
        target = now[:, None] * pe[:, source] + (1.0 - now[:, None]) * embedding
        return tf.fill([batch], source), now, target
    return copy


def test_a_copy_restores_the_state_from_before_the_attended_turn(monkeypatch):
    """Copying at turn 5 from turn 2 forgets turns 2..5: turns 6.. then go exactly as turns 2..
    of the dialogue without them."""
    model = make_model()
    open_gates(model)
    user, slots, previous = dialogues(batch=2, turns=9, seed=5)
    keep = [0, 1, 6, 7, 8]
    monkeypatch.setattr(model, "_copy", forced_copy(model, -1, 0))  # no copy at all
    short = model.run_dialogues(user[:, keep], slots[:, keep], previous[:, keep], LISTEN,
                                tf.constant(5)).embeddings.numpy()
    plain = model.run_dialogues(user, slots, previous, LISTEN, tf.constant(9)).embeddings.numpy()
    assert not np.allclose(plain[:, 6:], short[:, 2:], atol=1e-3), "the digression matters"

    monkeypatch.setattr(model, "_copy", forced_copy(model, 5, 2))
    outputs = model.run_dialogues(user, slots, previous, LISTEN, tf.constant(9))
    long = outputs.embeddings.numpy()
    np.testing.assert_allclose(long[:, :6], plain[:, :6], atol=1e-6)  # up to the copy: as before
    np.testing.assert_allclose(long[:, 6:], short[:, 2:], atol=1e-5)  # after it: restored
    # the forgotten turns get no attention any more
    _, user_attention, action_attention = model.run_dialogues(
        user, slots, previous, LISTEN, tf.constant(7), keep_attention=True)
    for attention in (user_attention, action_attention):
        np.testing.assert_array_equal(attention.numpy()[:, 2:6], 0.0)
        np.testing.assert_allclose(attention.numpy().sum(-1), 1.0, atol=1e-5)

    # the copy's likelihoods at turn 5 (1 elsewhere): the attended context and the dialogue
    # embedding should both match the copied previous action
    pe = model.embed_action(previous).numpy()
    _, _, weights = model.run_dialogues(user, slots, previous, LISTEN, tf.constant(6),
                                        keep_attention=True)
    context = np.sum(weights.numpy()[:, :5, None] * pe[:, :5], 1)
    np.testing.assert_allclose(outputs.attention_likelihood.numpy()[:, 5],
                               cosine(context, pe[:, 2]).numpy(), atol=1e-5)
    np.testing.assert_allclose(outputs.state_likelihood.numpy()[:, 5],
                               cosine(long[:, 5], pe[:, 2]).numpy(), atol=1e-5)
    others = np.delete(np.stack([outputs.attention_likelihood.numpy(),
                                 outputs.state_likelihood.numpy()]), 5, axis=-1)
    np.testing.assert_array_equal(others, 1.0)


def test_the_copy_mechanism_fires_on_its_own_and_forgets_the_digression():
    """With the LSTM's output silenced and a sharp attention after it, the dialogue embedding
    is the attended turn's previous action, so the model's own copy decision fires: the next
    turn then attends to none of the turns from the source on, and the copy's likelihoods
    differ from 1 only at the turns that copied."""
    model = make_model()
    model.lstm.out_layer.kernel.assign(tf.zeros_like(model.lstm.out_layer.kernel))
    model.lstm.out_layer.bias.assign(tf.zeros_like(model.lstm.out_layer.bias))
    model.attend_action.gamma.bias.assign([30.0])
    user, slots, previous = dialogues(batch=3, turns=8, seed=6)
    turns = 8
    outputs = model.run_dialogues(user, slots, previous, LISTEN, tf.constant(turns))
    pe = model.embed_action(previous)
    listen = model.embed_action(LISTEN[None])[0]
    copies = 0
    for t in range(turns - 1):
        _, _, weights = model.run_dialogues(user, slots, previous, LISTEN, tf.constant(t + 1),
                                            keep_attention=True)
        past = weights * tf.cast(tf.range(turns) < t, tf.float32)
        source, copied, target = model._copy(past, pe, outputs.embeddings[:, t], listen,
                                             tf.constant(t))
        _, _, following = model.run_dialogues(user, slots, previous, LISTEN, tf.constant(t + 2),
                                              keep_attention=True)
        for b in range(3):
            likelihoods = (float(outputs.attention_likelihood[b, t]),
                           float(outputs.state_likelihood[b, t]))
            if copied[b] == 1.0:
                copies += 1
                s = int(source[b])
                np.testing.assert_array_equal(following.numpy()[b, s:t + 1], 0.0)
                np.testing.assert_allclose(likelihoods[1], cosine(outputs.embeddings[b, t],
                                                                  pe[b, s]).numpy(), atol=1e-5)
                assert likelihoods[1] > 0.5  # the embedding is that action (why it copied)
            else:
                assert likelihoods == (1.0, 1.0)
    assert copies >= 3, "the scenario should make the mechanism fire"
    assert np.all(np.isfinite(outputs.embeddings.numpy()))
