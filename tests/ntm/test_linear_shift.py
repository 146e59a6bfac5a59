"""linear_shift: the NTM's location addressing without wrap-around (REDP's time attention)."""
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from rasa_ntm_policy.ntm import addressing
from tests import reference
from tests.strategies import addressing_inputs, softmax

ATOL = 1e-5


@settings(max_examples=30, deadline=None)
@given(addressing_inputs())
def test_linear_shift_matches_reference(x):
    got = addressing.linear_shift(x["w_prev"], x["shift_weights"]).numpy()
    np.testing.assert_allclose(got, reference.linear_shift(x["w_prev"], x["shift_weights"]),
                               atol=ATOL)
    assert np.all(got >= 0) and np.all(got.sum(-1) <= 1 + 1e-5)


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 6), st.integers(0, 9), st.integers(0, 2 ** 31))
def test_shift_range_may_exceed_the_number_of_slots(n, r, seed):
    """Unlike circular_shift there is no 2R+1 <= N limit: REDP's range is set from the mean
    dialogue length, and the first turns of a dialogue are shorter than that."""
    rng = np.random.default_rng(seed)
    w = softmax(rng.normal(size=[2, 1, n])).astype(np.float32)
    s = softmax(rng.normal(size=[2, 1, 2 * r + 1])).astype(np.float32)
    got = addressing.linear_shift(w, s).numpy()
    np.testing.assert_allclose(got, reference.linear_shift(w, s), atol=ATOL)


@pytest.mark.parametrize("shift", [-2, -1, 0, 1, 2])
def test_one_hot_shift_moves_the_focus_or_loses_it_past_the_end(shift):
    n, r, focus = 7, 2, 5
    w = np.eye(n, dtype=np.float32)[None, focus:focus + 1]
    s = np.eye(2 * r + 1, dtype=np.float32)[None, shift + r:shift + r + 1]
    got = addressing.linear_shift(w, s).numpy()[0, 0]
    if 0 <= focus + shift < n:
        np.testing.assert_array_equal(got, np.eye(n)[focus + shift])
    else:  # +2 from slot 5 of 7: gone, where circular_shift wraps around to slot 0
        np.testing.assert_array_equal(got, np.zeros(n))
        assert addressing.circular_shift(w, s).numpy()[0, 0, (focus + shift) % n] == 1.0


def test_mass_shifted_past_either_end_is_lost_and_no_wrap_around():
    w = np.array([[[0.5, 0.1, 0.1, 0.3]]], np.float32)
    forward = np.array([[[0.0, 0.0, 1.0]]], np.float32)  # shift +1
    backward = np.array([[[1.0, 0.0, 0.0]]], np.float32)  # shift -1
    np.testing.assert_allclose(addressing.linear_shift(w, forward).numpy()[0, 0],
                               [0.0, 0.5, 0.1, 0.1], atol=1e-7)
    np.testing.assert_allclose(addressing.linear_shift(w, backward).numpy()[0, 0],
                               [0.1, 0.1, 0.3, 0.0], atol=1e-7)
    # a spread shift: 0.25 back, 0.5 stay, 0.25 forward
    spread = np.array([[[0.25, 0.5, 0.25]]], np.float32)
    np.testing.assert_allclose(addressing.linear_shift(w, spread).numpy()[0, 0],
                               [0.5 * 0.5 + 0.25 * 0.1, 0.25 * 0.5 + 0.5 * 0.1 + 0.25 * 0.1,
                                0.25 * 0.1 + 0.5 * 0.1 + 0.25 * 0.3, 0.25 * 0.1 + 0.5 * 0.3],
                               atol=1e-7)


def test_equals_circular_shift_when_no_mass_reaches_an_end():
    rng = np.random.default_rng(0)
    w = np.zeros([3, 2, 10], np.float32)
    w[..., 2:8] = softmax(rng.normal(size=[3, 2, 6]))
    s = softmax(rng.normal(size=[3, 2, 5])).astype(np.float32)
    np.testing.assert_allclose(addressing.linear_shift(w, s).numpy(),
                               addressing.circular_shift(w, s).numpy(), atol=1e-7)


def test_zero_range_is_the_identity_and_zero_weights_stay_zero():
    w = softmax(np.random.default_rng(1).normal(size=[2, 3, 6])).astype(np.float32)
    np.testing.assert_allclose(addressing.linear_shift(w, np.ones([2, 3, 1], np.float32)).numpy(),
                               w, atol=1e-7)
    zero = addressing.linear_shift(np.zeros([1, 1, 4], np.float32),
                                   np.full([1, 1, 3], 1 / 3, np.float32)).numpy()
    np.testing.assert_array_equal(zero, np.zeros([1, 1, 4]))


def test_shift_weights_need_an_odd_static_size():
    with pytest.raises(ValueError, match="odd"):
        addressing.linear_shift(np.ones([1, 1, 3], np.float32) / 3,
                                np.ones([1, 1, 2], np.float32) / 2)


def test_works_with_a_dynamic_number_of_slots_under_xla():
    @tf.function(jit_compile=True, input_signature=[tf.TensorSpec([None, None, None]),
                                                    tf.TensorSpec([None, None, 3])])
    def shift(w, s):
        return addressing.linear_shift(w, s)

    rng = np.random.default_rng(2)
    for n in (1, 4, 9):
        w = softmax(rng.normal(size=[2, 1, n])).astype(np.float32)
        s = softmax(rng.normal(size=[2, 1, 3])).astype(np.float32)
        np.testing.assert_allclose(shift(w, s).numpy(), reference.linear_shift(w, s), atol=ATOL)


def test_linear_shift_gradients_match_finite_differences():
    rng = np.random.default_rng(3)
    w = tf.constant(softmax(rng.normal(size=[2, 2, 6])), tf.float32)
    s = tf.constant(softmax(rng.normal(size=[2, 2, 5])), tf.float32)
    weights = tf.constant(rng.normal(size=[6]), tf.float32)

    def loss(w, s):  # a non-trivial scalar so that every output slot matters differently
        return tf.reduce_sum(addressing.linear_shift(w, s) * weights)

    theoretical, numerical = tf.test.compute_gradient(loss, [w, s], delta=1e-3)
    for t, nmr in zip(theoretical, numerical):
        assert np.all(np.isfinite(t))
        np.testing.assert_allclose(t, nmr, atol=2e-3)
    # and the whole Jacobian, too
    theoretical, numerical = tf.test.compute_gradient(addressing.linear_shift, [w, s], delta=1e-3)
    for t, nmr in zip(theoretical, numerical):
        np.testing.assert_allclose(t, nmr, atol=2e-3)
