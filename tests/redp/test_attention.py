"""REDP's time attention (rasa_ntm_policy/redp/attention.py) against loop-by-loop NumPy."""
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from rasa_ntm_policy.redp import attention
from tests.strategies import softmax

ATOL = 1e-5
EPS = 1e-6  # the addressing module's epsilon in sharpen


# --- NumPy references, loop by loop ---------------------------------------------------------
def ref_bahdanau(keys, query, v, g, b):
    out = np.zeros(keys.shape[:2])
    norm = np.sqrt(np.sum(v.astype(np.float64) ** 2))
    for i in range(keys.shape[0]):
        for t in range(keys.shape[1]):
            out[i, t] = sum(g * v[e] / norm * np.tanh(keys[i, t, e] + query[i, e] + b[e])
                            for e in range(keys.shape[2]))
    return out


def ref_time_attention(scores, valid, shift, gamma):
    """Softmax over the valid turns, shift over them as one contiguous sequence (mass moved
    past either end is lost), sharpen over them; 0 elsewhere."""
    out = np.zeros(scores.shape)
    for b in range(scores.shape[0]):
        idx = np.flatnonzero(valid[b] > 0)
        s = scores[b, idx].astype(np.float64)
        p = np.exp(s - s.max())
        p /= p.sum()
        if shift is not None:
            r = shift.shape[-1] // 2
            p = np.array([sum(p[i - k] * shift[b, k + r] for k in range(-r, r + 1)
                              if 0 <= i - k < len(p)) for i in range(len(p))])
        sharp = (p + EPS) ** gamma[b, 0]
        out[b, idx] = sharp / sharp.sum()
    return out


@st.composite
def attention_inputs(draw, max_batch=3, max_turns=10, max_range=4):
    b = draw(st.integers(1, max_batch))
    n = draw(st.integers(1, max_turns))
    r = draw(st.integers(0, max_range))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 31)))
    t = draw(st.integers(0, n - 1))
    valid = (rng.uniform(size=[b, n]) < 0.6).astype(np.float32)
    valid[:, t + 1:] = 0.0
    valid[:, t] = 1.0  # the current turn is always valid
    f = np.float32
    return dict(scores=(rng.normal(size=[b, n]) * 3).astype(f), valid=valid,
                shift=softmax(rng.normal(size=[b, 2 * r + 1]) * 2).astype(f),
                gamma=rng.uniform(1, 10, size=[b, 1]).astype(f))


def assert_attention(w, valid):
    w = np.asarray(w)
    assert np.all(np.isfinite(w)) and np.all(w >= 0)
    assert np.all(w[valid == 0] == 0.0), "no weight at all on invalid turns"
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-5)


# --- Bahdanau scores ------------------------------------------------------------------------
def bahdanau_args(seed=0, b=2, n=5, e=4):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=s).astype(np.float32)
            for s in ([b, n, e], [b, e], [e], [], [e])]


def test_bahdanau_scores_match_reference():
    keys, query, v, g, b = bahdanau_args()
    got = attention.bahdanau_scores(keys, query, v, g, b).numpy()
    assert got.shape == (2, 5)
    np.testing.assert_allclose(got, ref_bahdanau(keys, query, v, g, b), atol=ATOL)


def test_bahdanau_scores_are_weight_normalised():
    """Only the direction of v counts; its scale is the gain g."""
    keys, query, v, g, b = bahdanau_args(1)
    base = attention.bahdanau_scores(keys, query, v, g, b).numpy()
    np.testing.assert_allclose(attention.bahdanau_scores(keys, query, 7.5 * v, g, b).numpy(),
                               base, atol=ATOL)
    np.testing.assert_allclose(attention.bahdanau_scores(keys, query, v, 2 * g, b).numpy(),
                               2 * base, atol=ATOL)
    # Cauchy-Schwarz: |sum_e g v_e/|v| tanh_e| <= |g| |tanh| <= |g| sqrt(E)
    assert np.all(np.abs(base) <= abs(g) * np.sqrt(keys.shape[-1]) + 1e-6)


def test_bahdanau_gradients_match_finite_differences():
    args = [tf.constant(a, tf.float64) for a in bahdanau_args(2, b=2, n=3, e=3)]
    theoretical, numerical = tf.test.compute_gradient(attention.bahdanau_scores, args)
    for t, nmr in zip(theoretical, numerical):
        np.testing.assert_allclose(t, nmr, atol=1e-6)


# --- valid turns and interpolation ----------------------------------------------------------
def test_valid_turns_are_visited_unignored_past_turns_and_the_current_turn():
    time_mask = np.array([[1, 1, 0, 1, 0, 1], [1, 1, 1, 1, 1, 1]], np.float32)
    ignore = np.array([[0, 1, 0, 0, 1, 0], [1, 0, 0, 1, 1, 1]], np.float32)
    got = attention.valid_turns(time_mask, ignore, 4).numpy()
    # turn 4 is valid although ignored (and not yet visited); turn 5 is in the future
    np.testing.assert_array_equal(got, [[1, 0, 0, 1, 1, 0], [0, 1, 1, 0, 1, 0]])
    got = attention.valid_turns(time_mask, ignore, tf.constant(0)).numpy()
    np.testing.assert_array_equal(got, [[1, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0]])


def test_interpolate_scores_mixes_the_past_keeps_the_present_and_zeroes_the_future():
    rng = np.random.default_rng(4)
    scores = rng.normal(size=[2, 6]).astype(np.float32)
    previous = rng.normal(size=[2, 6]).astype(np.float32)
    gate = np.array([[0.25], [1.0]], np.float32)
    got = attention.interpolate_scores(scores, previous, gate, 3).numpy()
    np.testing.assert_allclose(got[:, :3], gate * scores[:, :3] + (1 - gate) * previous[:, :3],
                               atol=1e-6)
    np.testing.assert_array_equal(got[:, 3], scores[:, 3])
    np.testing.assert_array_equal(got[:, 4:], 0.0)
    # gate 0 keeps the previous scores of the past exactly
    kept = attention.interpolate_scores(scores, previous, np.zeros([2, 1], np.float32), 5)
    np.testing.assert_array_equal(kept.numpy()[:, :5], previous[:, :5])


# --- time attention -------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(attention_inputs())
def test_time_attention_with_shift_matches_reference(x):
    got = attention.time_attention(x["scores"], x["valid"], x["shift"], x["gamma"]).numpy()
    np.testing.assert_allclose(got, ref_time_attention(x["scores"], x["valid"], x["shift"],
                                                       x["gamma"]), atol=ATOL)
    assert_attention(got, x["valid"])


@settings(max_examples=30, deadline=None)
@given(attention_inputs())
def test_time_attention_without_shift_is_masked_softmax_then_sharpen(x):
    got = attention.time_attention(x["scores"], x["valid"], None, x["gamma"]).numpy()
    np.testing.assert_allclose(got, ref_time_attention(x["scores"], x["valid"], None,
                                                       x["gamma"]), atol=ATOL)
    assert_attention(got, x["valid"])
    # a shift range of 0 (the one shift "stay") is the same as no shift
    stay = np.ones([len(x["scores"]), 1], np.float32)
    np.testing.assert_allclose(attention.time_attention(x["scores"], x["valid"], stay,
                                                        x["gamma"]).numpy(), got, atol=1e-6)


def test_gamma_one_without_shift_is_exactly_the_masked_softmax():
    scores = np.array([[0.3, 2.0, -1.0, 0.7]], np.float32)
    valid = np.array([[1, 0, 1, 1]], np.float32)
    got = attention.time_attention(scores, valid, None, np.ones([1, 1], np.float32)).numpy()
    e = np.exp(scores[0, [0, 2, 3]])
    np.testing.assert_allclose(got[0], np.insert(e / e.sum(), 1, 0.0), atol=1e-5)


def test_shift_acts_over_the_valid_turns_as_if_contiguous():
    """Valid turns 0, 3, 5 at t = 5: a shift of -1 moves the weight from turn 5 to turn 3
    (skipping the invalid turn 4), and the weight of turn 3 to turn 0."""
    valid = np.array([[1, 0, 0, 1, 0, 1]], np.float32)
    scores = np.array([[-30.0, 5.0, 5.0, -30.0, 5.0, 10.0]], np.float32)  # focus on turn 5
    gamma = np.ones([1, 1], np.float32)
    back = np.array([[1.0, 0.0, 0.0]], np.float32)  # shifts -1, 0, +1
    got = attention.time_attention(scores, valid, back, gamma).numpy()[0]
    assert got[3] > 0.999 and got[4] == 0.0 and got[1] == 0.0 and got[2] == 0.0
    # a focus on turn 3 moves to turn 0
    scores = np.array([[-30.0, 5.0, 5.0, 10.0, 5.0, -30.0]], np.float32)
    got = attention.time_attention(scores, valid, back, gamma).numpy()[0]
    assert got[0] > 0.999
    # two steps back from turn 5, over the valid turns only, is turn 0
    back2 = np.array([[1.0, 0.0, 0.0, 0.0, 0.0]], np.float32)
    scores = np.array([[-30.0, 5.0, 5.0, -30.0, 5.0, 10.0]], np.float32)
    got = attention.time_attention(scores, valid, back2, gamma).numpy()[0]
    assert got[0] > 0.999


def test_shift_works_row_by_row_with_different_masks():
    valid = np.array([[1, 0, 0, 1, 0, 1], [1, 1, 1, 1, 1, 1], [0, 0, 1, 0, 1, 1]], np.float32)
    scores = np.where(np.arange(6) == 5, 10.0, -30.0)[None].repeat(3, 0).astype(np.float32)
    back = np.array([[1.0, 0.0, 0.0]] * 3, np.float32)
    got = attention.time_attention(scores, valid, back, np.ones([3, 1], np.float32)).numpy()
    assert [int(np.argmax(row)) for row in got] == [3, 4, 4]
    assert_attention(got, valid)


def test_mass_shifted_out_of_the_valid_turns_still_gives_a_distribution():
    """A forward shift from the current (last valid) turn pushes every weight past the end:
    the result stays finite and sums to 1 over the valid turns."""
    valid = np.array([[1, 0, 1, 1, 0, 0]], np.float32)
    scores = np.array([[-1e4, 0.0, -1e4, 1e4, 0.0, 0.0]], np.float32)
    forward = np.array([[0.0, 0.0, 1.0]], np.float32)
    got = attention.time_attention(scores, valid, forward, np.full([1, 1], 5.0, np.float32))
    assert_attention(got.numpy(), valid)


@pytest.mark.parametrize("gamma", [300.0, 1e4, 1e30])
def test_large_gamma_gives_one_hot_on_the_largest_valid_weight(gamma):
    scores = np.array([[1.0, 9.0, 1.5, 2.0, 0.5]], np.float32)  # turn 1 is invalid
    valid = np.array([[1, 0, 1, 1, 1]], np.float32)
    for shift in (None, np.array([[0.1, 0.8, 0.1]], np.float32)):
        got = attention.time_attention(scores, valid, shift, np.array([[gamma]], np.float32))
        np.testing.assert_allclose(got.numpy()[0], [0, 0, 0, 1, 0], atol=1e-6)


def test_a_single_valid_turn_gets_all_the_weight():
    scores = np.array([[3.0, -2.0, 1.0]], np.float32)
    valid = np.array([[0, 0, 1]], np.float32)
    for shift in (None, np.array([[0.2, 0.3, 0.5]], np.float32),
                  np.array([[1.0, 0.0, 0.0]], np.float32)):
        got = attention.time_attention(scores, valid, shift, np.full([1, 1], 3.0, np.float32))
        np.testing.assert_allclose(got.numpy(), [[0, 0, 1]], atol=1e-6)


@pytest.mark.parametrize("with_shift", [False, True])
def test_time_attention_gradients_match_finite_differences_with_masked_turns(with_shift):
    rng = np.random.default_rng(5)
    valid = tf.constant([[1, 0, 1, 1, 0, 1, 0], [0, 1, 1, 0, 1, 1, 0]], tf.float32)
    scores = tf.constant(rng.normal(size=[2, 7]), tf.float32)
    shift = tf.constant(softmax(rng.normal(size=[2, 5])), tf.float32)
    gamma = tf.constant(rng.uniform(1, 3, size=[2, 1]), tf.float32)
    weights = tf.constant(rng.normal(size=[7]), tf.float32)

    def loss(scores, shift, gamma):
        w = attention.time_attention(scores, valid, shift if with_shift else None, gamma)
        return tf.reduce_sum(w * weights)

    theoretical, numerical = tf.test.compute_gradient(loss, [scores, shift, gamma], delta=1e-3)
    for t, nmr in zip(theoretical, numerical):
        assert np.all(np.isfinite(t))
        np.testing.assert_allclose(t, nmr, atol=2e-3)
    # the masked turns' scores get exactly zero gradient
    with tf.GradientTape() as tape:
        tape.watch(scores)
        value = loss(scores, shift, gamma)
    grad = tape.gradient(value, scores).numpy()
    assert np.all(grad[valid.numpy() == 0] == 0.0)


def test_degenerate_inputs_have_finite_gradients():
    """Huge equal scores, one-hot shifts, huge gamma, rows with a single valid turn."""
    scores = tf.constant([[1e4, 1e4, 1e4, 1e4], [0.0, 0.0, 0.0, 0.0]], tf.float32)
    valid = tf.constant([[1, 1, 0, 1], [0, 0, 1, 0]], tf.float32)
    shift = tf.constant([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]], tf.float32)
    gamma = tf.constant([[1e3], [1e3]], tf.float32)
    with tf.GradientTape() as tape:
        tape.watch([scores, shift, gamma])
        w = attention.time_attention(scores, valid, shift, gamma)
        value = tf.reduce_sum(w * tf.range(4, dtype=tf.float32))
    assert_attention(w.numpy(), valid.numpy())
    for g in tape.gradient(value, [scores, shift, gamma]):
        assert g is not None and np.all(np.isfinite(g.numpy()))


def test_time_attention_compiles_with_xla_and_matches_eager():
    @tf.function(jit_compile=True)
    def compiled(scores, valid, shift, gamma):
        return attention.time_attention(scores, valid, shift, gamma)

    @tf.function(jit_compile=True)
    def compiled_no_shift(scores, valid, gamma):
        return attention.time_attention(scores, valid, None, gamma)

    rng = np.random.default_rng(6)
    valid = (rng.uniform(size=[4, 12]) < 0.5).astype(np.float32)
    valid[:, 9] = 1.0
    valid[:, 10:] = 0.0
    scores = rng.normal(size=[4, 12]).astype(np.float32) * 3
    shift = softmax(rng.normal(size=[4, 7])).astype(np.float32)
    gamma = rng.uniform(1, 4, size=[4, 1]).astype(np.float32)
    np.testing.assert_allclose(compiled(scores, valid, shift, gamma).numpy(),
                               ref_time_attention(scores, valid, shift, gamma), atol=ATOL)
    np.testing.assert_allclose(compiled_no_shift(scores, valid, gamma).numpy(),
                               ref_time_attention(scores, valid, None, gamma), atol=ATOL)
    hlo = compiled.experimental_get_compiler_ir(scores, valid, shift, gamma)(stage="hlo")
    assert "sort" in hlo  # the compaction of the valid turns is inside the program


def test_compact_order_puts_invalid_turns_first_keeping_time_order():
    valid = np.array([[1, 0, 0, 1, 0, 1], [0, 0, 0, 0, 0, 1]], np.float32)
    np.testing.assert_array_equal(attention.compact_order(valid).numpy(),
                                  [[1, 2, 4, 0, 3, 5], [0, 1, 2, 3, 4, 5]])
