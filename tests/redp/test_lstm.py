"""REDP's layer-normalised LSTM step with chrono-initialised gate biases (redp/lstm.py)."""
import numpy as np
import pytest
import tensorflow as tf

from rasa_ntm_policy.redp.lstm import ChronoLayerNormLSTM, chrono_forget_bias, layer_norm

EPS = 1e-6


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def ref_layer_norm(x, gain, shift):
    out = np.zeros_like(x, dtype=np.float64)
    for b in range(x.shape[0]):
        mean = x[b].mean()
        var = ((x[b] - mean) ** 2).mean()
        out[b] = gain * (x[b] - mean) / np.sqrt(var + EPS) + shift
    return out


def ref_step(cell, inputs, c, h, masks=None):
    """The step of rasa_core's ChronoBiasLayerNormBasicLSTMCell, written out in NumPy: the input
    gate's bias is minus the forget gate's, both added after layer normalisation."""
    u = cell.units
    gates = np.concatenate([inputs, h], -1).astype(np.float64) @ cell.kernel.numpy()
    parts = [gates[:, k * u:(k + 1) * u] for k in range(4)]
    if cell.layer_normalization:
        parts = [ref_layer_norm(x, cell.gains.numpy()[k], cell.shifts.numpy()[k])
                 for k, x in enumerate(parts)]
    else:
        parts = [x + cell.bias.numpy()[k * u:(k + 1) * u] for k, x in enumerate(parts)]
    i, j, f, o = parts
    fb = cell.forget_bias.numpy()
    candidate = np.tanh(j) * (1.0 if masks is None else masks[0])
    new_c = c * sigmoid(f + fb) + candidate * sigmoid(i - fb)
    new_h = np.tanh(new_c) * sigmoid(o) * (1.0 if masks is None else masks[1])
    if cell.out_layer is not None:
        new_h = new_h @ cell.out_layer.kernel.numpy() + cell.out_layer.bias.numpy()
    return new_h, new_c


def make_cell(units=5, out_size=None, layer_normalization=True, inputs=3, seed=0):
    cell = ChronoLayerNormLSTM(units, out_size, layer_normalization)
    cell.build([None, inputs])
    rng = np.random.default_rng(seed)
    for variable in cell.weights:  # non-trivial values everywhere (gains 1, shifts 0 otherwise)
        variable.assign(rng.normal(size=variable.shape).astype(np.float32))
    cell.set_chrono_bias(8.0, seed)
    return cell


def step_inputs(cell, batch=4, inputs=3, seed=1):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=[batch, inputs]).astype(np.float32),
            rng.normal(size=[batch, cell.units]).astype(np.float32),
            rng.normal(size=[batch, cell.output_size]).astype(np.float32))


# --- chrono initialisation ------------------------------------------------------------------
@pytest.mark.parametrize("characteristic_time", [3.0, 7.5, 40.0, 1000.0])
def test_chrono_forget_bias_lies_in_minus_one_to_log_t_minus_one(characteristic_time):
    bias = chrono_forget_bias(2000, characteristic_time, seed=0)
    upper = np.log(characteristic_time - 1.0)
    assert bias.shape == (2000,) and bias.dtype == np.float32
    assert bias.min() >= -1.0 and bias.max() <= upper + 1e-6
    # uniform over the whole interval: both ends are reached and the mean is in the middle
    assert bias.min() < -1.0 + 0.02 * (upper + 1) and bias.max() > upper - 0.02 * (upper + 1)
    assert abs(bias.mean() - (upper - 1.0) / 2) < 0.05 * (upper + 1)


def test_chrono_forget_bias_is_seeded():
    np.testing.assert_array_equal(chrono_forget_bias(64, 9.0, 3), chrono_forget_bias(64, 9.0, 3))
    assert not np.array_equal(chrono_forget_bias(64, 9.0, 3), chrono_forget_bias(64, 9.0, 4))


@pytest.mark.parametrize("characteristic_time", [0.0, 1.0, 1.5, 2.0])
def test_chrono_forget_bias_of_very_short_dialogues_is_finite(characteristic_time):
    """Dialogues of one or two turns: log(T - 1) would be -inf or below -1."""
    bias = chrono_forget_bias(100, characteristic_time, seed=0)
    assert np.all(np.isfinite(bias)) and bias.min() >= -1.0 and bias.max() <= 1e-3


def test_set_chrono_bias_sets_the_persisted_forget_bias():
    cell = make_cell()
    cell.set_chrono_bias(12.0, 7)
    np.testing.assert_array_equal(cell.forget_bias.numpy(), chrono_forget_bias(5, 12.0, 7))
    assert any(v is cell.forget_bias for v in cell.non_trainable_weights)
    assert not any(v is cell.forget_bias for v in cell.trainable_weights)


# --- layer normalisation --------------------------------------------------------------------
def test_layer_norm_with_unit_gain_gives_zero_mean_unit_variance():
    x = np.random.default_rng(2).normal(3.0, 5.0, size=[6, 32]).astype(np.float32)
    got = layer_norm(x, tf.ones([32]), tf.zeros([32])).numpy()
    np.testing.assert_allclose(got.mean(-1), 0.0, atol=1e-5)
    np.testing.assert_allclose(got.var(-1), 1.0, atol=1e-4)


def test_layer_norm_gain_and_shift_match_reference():
    rng = np.random.default_rng(3)
    x = rng.normal(size=[4, 7]).astype(np.float32)
    gain, shift = rng.normal(size=[7]).astype(np.float32), rng.normal(size=[7]).astype(np.float32)
    np.testing.assert_allclose(layer_norm(x, gain, shift).numpy(), ref_layer_norm(x, gain, shift),
                               atol=1e-5)


def test_layer_norm_of_a_constant_row_is_the_shift_with_finite_gradient():
    x = tf.constant([[2.5] * 4, [0.0] * 4])
    shift = tf.constant([0.1, -0.2, 0.3, 0.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer_norm(x, tf.ones([4]), shift)
        value = tf.reduce_sum(y * tf.constant([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_allclose(y.numpy(), np.stack([shift.numpy()] * 2), atol=1e-6)
    assert np.all(np.isfinite(tape.gradient(value, x).numpy()))


# --- the LSTM step --------------------------------------------------------------------------
@pytest.mark.parametrize("out_size", [None, 6])
def test_step_shapes_with_and_without_out_layer(out_size):
    cell = make_cell(units=5, out_size=out_size)
    x, c, h = step_inputs(cell)
    assert h.shape == (4, out_size or 5)
    output, (new_c, new_h) = cell(x, (c, h))
    assert output.shape == (4, out_size or 5) and new_h.shape == output.shape
    assert new_c.shape == (4, 5)
    np.testing.assert_array_equal(output.numpy(), new_h.numpy())  # the output is the state h
    assert cell.output_size == (out_size or 5)


@pytest.mark.parametrize("out_size, layer_normalization", [(None, True), (6, True),
                                                           (None, False), (6, False)])
def test_step_matches_reference(out_size, layer_normalization):
    cell = make_cell(units=5, out_size=out_size, layer_normalization=layer_normalization)
    x, c, h = step_inputs(cell)
    output, (new_c, new_h) = cell(x, (c, h))
    ref_h, ref_c = ref_step(cell, x, c, h)
    np.testing.assert_allclose(new_c.numpy(), ref_c, atol=1e-5)
    np.testing.assert_allclose(new_h.numpy(), ref_h, atol=1e-5)


def test_keep_masks_of_ones_change_nothing_and_zeros_drop_candidate_and_output():
    cell = make_cell(units=5, out_size=6)
    x, c, h = step_inputs(cell)
    plain = cell(x, (c, h))
    ones = [tf.ones([4, 5]), tf.ones([4, 5])]
    masked = cell(x, (c, h), ones)
    np.testing.assert_array_equal(plain[0].numpy(), masked[0].numpy())
    np.testing.assert_array_equal(plain[1][0].numpy(), masked[1][0].numpy())
    # a dropped candidate: c only decays through the forget gate
    rng = np.random.default_rng(4)
    masks = [(rng.uniform(size=[4, 5]) < 0.5) / 0.5, (rng.uniform(size=[4, 5]) < 0.5) / 0.5]
    masks = [m.astype(np.float32) for m in masks]
    output, (new_c, _) = cell(x, (c, h), masks)
    ref_h, ref_c = ref_step(cell, x, c, h, masks)
    np.testing.assert_allclose(new_c.numpy(), ref_c, atol=1e-5)
    np.testing.assert_allclose(output.numpy(), ref_h, atol=1e-5)
    # an all-zero output mask leaves only the output layer's bias
    zeros = [tf.ones([4, 5]), tf.zeros([4, 5])]
    output, _ = cell(x, (c, h), zeros)
    np.testing.assert_allclose(output.numpy(), np.tile(cell.out_layer.bias.numpy(), [4, 1]),
                               atol=1e-6)


def test_input_gate_bias_is_minus_the_forget_bias():
    """With zero weights every normalised gate is its shift (0): the forget gate is
    sigmoid(fb), the input gate sigmoid(-fb) (chrono initialisation, input_bias=-fbias)."""
    cell = ChronoLayerNormLSTM(4, None)
    cell.build([None, 2])
    cell.kernel.assign(tf.zeros_like(cell.kernel))
    cell.forget_bias.assign([-1.0, 0.0, 1.0, 2.0])
    c = np.ones([1, 4], np.float32)
    _, (new_c, _) = cell(np.ones([1, 2], np.float32), (c, np.zeros([1, 4], np.float32)))
    fb = np.array([-1.0, 0.0, 1.0, 2.0])
    # candidate tanh(0) = 0: c * sigmoid(fb)
    np.testing.assert_allclose(new_c.numpy()[0], sigmoid(fb), atol=1e-6)
    cell.shifts.assign(tf.constant([[0.0] * 4, [10.0] * 4, [-50.0] * 4, [0.0] * 4]))
    _, (new_c, _) = cell(np.ones([1, 2], np.float32), (c, np.zeros([1, 4], np.float32)))
    # forget gate closed: tanh(10) * sigmoid(-fb)
    np.testing.assert_allclose(new_c.numpy()[0], np.tanh(10.0) * sigmoid(-fb), atol=1e-5)


def test_step_gradients_match_finite_differences():
    cell = make_cell(units=3, out_size=2, inputs=2)
    x, c, h = step_inputs(cell, batch=2, inputs=2)

    def step(x, c, h):
        output, (new_c, _) = cell(x, (c, h))
        return tf.concat([output, new_c], -1)

    theoretical, numerical = tf.test.compute_gradient(
        step, [tf.constant(x), tf.constant(c), tf.constant(h)], delta=1e-3)
    for t, nmr in zip(theoretical, numerical):
        assert np.all(np.isfinite(t))
        np.testing.assert_allclose(t, nmr, atol=5e-3)
    with tf.GradientTape(persistent=True) as tape:
        value = tf.reduce_sum(step(x, c, h) ** 2)
    grads = tape.gradient(value, cell.trainable_variables)
    assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads)
    assert tape.gradient(value, cell.forget_bias) is None  # a constant, not trained
