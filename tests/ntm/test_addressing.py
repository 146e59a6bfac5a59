import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings

from rasa_ntm_policy.ntm import addressing
from tests import reference
from tests.strategies import addressing_inputs

ATOL = 1e-5


def assert_distribution(w):
    w = np.asarray(w)
    assert np.all(np.isfinite(w))
    assert np.all(w >= 0)
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-5)


@settings(max_examples=30, deadline=None)
@given(addressing_inputs())
def test_content_weights_match_reference(x):
    got = addressing.content_weights(x["memory"], x["keys"], x["strengths"]).numpy()
    np.testing.assert_allclose(got, reference.content_weights(x["memory"], x["keys"],
                                                              x["strengths"]), atol=ATOL)
    assert_distribution(got)


@settings(max_examples=30, deadline=None)
@given(addressing_inputs())
def test_interpolate_matches_reference(x):
    wc = reference.content_weights(x["memory"], x["keys"], x["strengths"]).astype(np.float32)
    got = addressing.interpolate(wc, x["w_prev"], x["gate"]).numpy()
    np.testing.assert_allclose(got, reference.interpolate(wc, x["w_prev"], x["gate"]), atol=ATOL)
    assert_distribution(got)


@settings(max_examples=30, deadline=None)
@given(addressing_inputs())
def test_circular_shift_matches_reference(x):
    got = addressing.circular_shift(x["w_prev"], x["shift_weights"]).numpy()
    np.testing.assert_allclose(got, reference.circular_shift(x["w_prev"], x["shift_weights"]),
                               atol=ATOL)
    assert_distribution(got)


@settings(max_examples=30, deadline=None)
@given(addressing_inputs())
def test_sharpen_matches_reference(x):
    got = addressing.sharpen(x["w_prev"], x["gamma"]).numpy()
    np.testing.assert_allclose(got, reference.sharpen(x["w_prev"], x["gamma"]), atol=ATOL)
    assert_distribution(got)


@settings(max_examples=30, deadline=None)
@given(addressing_inputs())
def test_address_matches_reference(x):
    args = [x[k] for k in ("memory", "w_prev", "keys", "strengths", "gate", "shift_weights",
                           "gamma")]
    got = addressing.address(*args).numpy()
    np.testing.assert_allclose(got, reference.address(*args), atol=ATOL)
    assert_distribution(got)


@pytest.mark.parametrize("shift", [-2, -1, 0, 1, 2])
def test_one_hot_shift_moves_the_focus(shift):
    n, r = 7, 2
    w = np.zeros([1, 1, n], np.float32)
    w[0, 0, 5] = 1.0
    s = np.zeros([1, 1, 2 * r + 1], np.float32)
    s[0, 0, shift + r] = 1.0
    got = addressing.circular_shift(w, s).numpy()[0, 0]
    assert got.argmax() == (5 + shift) % n
    np.testing.assert_allclose(got, np.eye(n)[(5 + shift) % n], atol=1e-7)


def test_shift_range_must_fit_memory():
    with pytest.raises(ValueError, match="2R\\+1 <= N"):
        addressing.circular_shift(np.ones([1, 1, 3], np.float32) / 3,
                                  np.ones([1, 1, 5], np.float32) / 5)
    with pytest.raises(ValueError, match="odd"):
        addressing.circular_shift(np.ones([1, 1, 3], np.float32) / 3,
                                  np.ones([1, 1, 2], np.float32) / 2)


@pytest.mark.parametrize("gamma", [200.0, 1e4, 1e30])
def test_large_gamma_gives_one_hot(gamma):
    w = np.array([[[0.1, 0.3, 0.25, 0.35]]], np.float32)
    got = addressing.sharpen(w, np.array([[gamma]], np.float32)).numpy()
    np.testing.assert_allclose(got[0, 0], [0, 0, 0, 1], atol=1e-6)


def test_sharpen_of_one_hot_stays_one_hot():
    w = np.eye(5, dtype=np.float32)[None, 2:3]
    got = addressing.sharpen(w, np.array([[3.0]], np.float32)).numpy()
    np.testing.assert_allclose(got[0, 0], np.eye(5)[2], atol=1e-6)


def test_zero_memory_and_zero_key_give_uniform_finite_weights():
    memory = np.zeros([2, 6, 4], np.float32)
    keys = np.zeros([2, 3, 4], np.float32)
    strengths = np.full([2, 3], 1e6, np.float32)
    got = addressing.content_weights(memory, keys, strengths).numpy()
    np.testing.assert_allclose(got, np.full([2, 3, 6], 1 / 6), atol=1e-6)


@pytest.mark.parametrize("beta", [1e3, 1e8, 1e30])
def test_very_large_strength_stays_finite_and_picks_the_matching_slot(beta):
    memory = np.eye(4, 3, dtype=np.float32)[None]
    keys = np.array([[[0.0, 2.0, 0.0]]], np.float32)
    got = addressing.content_weights(memory, keys, np.array([[beta]], np.float32)).numpy()
    assert_distribution(got)
    assert got[0, 0].argmax() == 1 and got[0, 0, 1] > 0.999


def degenerate_address_inputs():
    """All-zero memory and keys, huge beta and gamma, one-hot previous weights and shifts."""
    f = np.float32
    w_prev = np.zeros([2, 2, 5], f)
    w_prev[:, :, 3] = 1.0
    shifts = np.zeros([2, 2, 3], f)
    shifts[:, :, 2] = 1.0
    return [np.zeros([2, 5, 4], f), w_prev, np.zeros([2, 2, 4], f), np.full([2, 2], 1e4, f),
            np.full([2, 2], 0.5, f), shifts, np.full([2, 2], 1e3, f)]


def test_degenerate_address_values_and_gradients_are_finite():
    args = [tf.constant(a) for a in degenerate_address_inputs()]
    with tf.GradientTape() as tape:
        tape.watch(args)
        w = addressing.address(*args)
        loss = tf.reduce_sum(w * tf.range(5, dtype=tf.float32))
    assert_distribution(w)
    for g in tape.gradient(loss, args):
        assert g is None or np.all(np.isfinite(g.numpy()))


def test_address_gradients_match_finite_differences():
    rng = np.random.default_rng(3)
    b, h, n, w = 2, 2, 5, 3
    memory = rng.normal(size=[b, n, w])
    w_prev = reference.sharpen(rng.uniform(size=[b, h, n]), np.ones([b, h]))
    shifts = reference.sharpen(rng.uniform(size=[b, h, 3]), np.ones([b, h]))
    args = [memory, w_prev, rng.normal(size=[b, h, w]), rng.uniform(0.5, 3, [b, h]),
            rng.uniform(0.1, 0.9, [b, h]), shifts, rng.uniform(1, 3, [b, h])]
    args = [tf.constant(a, tf.float32) for a in args]
    theoretical, numerical = tf.test.compute_gradient(addressing.address, args, delta=1e-3)
    for t, nmr in zip(theoretical, numerical):
        np.testing.assert_allclose(t, nmr, atol=2e-3)
