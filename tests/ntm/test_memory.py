import numpy as np
import tensorflow as tf
from hypothesis import given, settings

from rasa_ntm_policy.ntm import memory
from tests import reference
from tests.strategies import addressing_inputs


@settings(max_examples=30, deadline=None)
@given(addressing_inputs())
def test_read_matches_reference(x):
    got = memory.read(x["memory"], x["w_prev"]).numpy()
    np.testing.assert_allclose(got, reference.read(x["memory"], x["w_prev"]), atol=1e-5)


@settings(max_examples=30, deadline=None)
@given(addressing_inputs())
def test_write_matches_reference(x):
    got = memory.write(x["memory"], x["w_prev"], x["erase"], x["add"]).numpy()
    expected = reference.write(x["memory"], x["w_prev"], x["erase"], x["add"])
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_read_on_one_hot_weighting_returns_the_slot_exactly():
    rng = np.random.default_rng(0)
    m = rng.normal(size=[2, 6, 4]).astype(np.float32)
    w = np.zeros([2, 2, 6], np.float32)
    w[0, 0, 1] = w[0, 1, 4] = w[1, 0, 5] = w[1, 1, 0] = 1.0
    got = memory.read(m, w).numpy()
    np.testing.assert_array_equal(got[0], m[0, [1, 4]])
    np.testing.assert_array_equal(got[1], m[1, [5, 0]])


def test_write_on_one_hot_weighting_touches_only_that_slot():
    rng = np.random.default_rng(1)
    m = rng.normal(size=[1, 5, 3]).astype(np.float32)
    w = np.eye(5, dtype=np.float32)[None, 2:3]
    erase = np.full([1, 1, 3], 0.5, np.float32)
    add = np.array([[[1.0, -1.0, 2.0]]], np.float32)
    got = memory.write(m, w, erase, add).numpy()
    expected = m.copy()
    expected[0, 2] = m[0, 2] * 0.5 + add[0, 0]
    np.testing.assert_allclose(got, expected, atol=1e-7)


def test_erase_one_at_weight_one_clears_the_slot():
    m = np.ones([1, 4, 3], np.float32) * 7
    w = np.eye(4, dtype=np.float32)[None, 1:2]
    got = memory.write(m, w, np.ones([1, 1, 3], np.float32), np.zeros([1, 1, 3], np.float32))
    got = got.numpy()
    np.testing.assert_array_equal(got[0, 1], 0.0)
    np.testing.assert_array_equal(got[0, [0, 2, 3]], 7.0)


def test_several_write_heads_multiply_erases_and_sum_adds():
    m = np.ones([1, 2, 1], np.float32)
    w = np.array([[[1.0, 0.0], [0.5, 0.5]]], np.float32)
    erase = np.array([[[0.5], [1.0]]], np.float32)
    add = np.array([[[1.0], [2.0]]], np.float32)
    got = memory.write(m, w, erase, add).numpy()[0, :, 0]
    # slot 0: 1 * (1 - 0.5) * (1 - 0.5) + 1 + 1 = 2.25; slot 1: 1 * 1 * 0.5 + 1 = 1.5
    np.testing.assert_allclose(got, [2.25, 1.5])


def _random_args(seed, b=2, h=2, n=4, w=3):
    rng = np.random.default_rng(seed)
    weights = reference.sharpen(rng.uniform(size=[b, h, n]), np.ones([b, h]))
    return [tf.constant(a, tf.float32) for a in (
        rng.normal(size=[b, n, w]), weights, rng.uniform(0.1, 0.9, [b, h, w]),
        rng.normal(size=[b, h, w]))]


def test_read_gradients_match_finite_differences():
    args = _random_args(4)[:2]
    theoretical, numerical = tf.test.compute_gradient(memory.read, args, delta=1e-3)
    for t, nmr in zip(theoretical, numerical):
        np.testing.assert_allclose(t, nmr, atol=1e-3)


def test_write_gradients_match_finite_differences():
    theoretical, numerical = tf.test.compute_gradient(memory.write, _random_args(5), delta=1e-3)
    for t, nmr in zip(theoretical, numerical):
        np.testing.assert_allclose(t, nmr, atol=1e-3)
