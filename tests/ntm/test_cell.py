import numpy as np
import pytest
import tensorflow as tf

from rasa_ntm_policy.ntm import NTMCell, NTMState, memory_step
from rasa_ntm_policy.ntm.heads import read_parameter_size, write_parameter_size


def run_cell(cell, inputs):
    """Keras' RNN layer over the cell: (outputs [B, T, O], the last NTMState)."""
    rnn = tf.keras.layers.RNN(cell, return_sequences=True, return_state=True)
    outputs, *states = rnn(inputs)
    return outputs, NTMState(*states)


def test_output_and_state_shapes():
    cell = NTMCell(units=8, memory_slots=6, memory_width=4, read_heads=2, write_heads=3,
                   shift_range=2)
    outputs, state = run_cell(cell, tf.random.normal([3, 5, 7]))
    assert outputs.shape == (3, 5, 8 + 2 * 4)
    assert [h.shape for h in state.controller] == [(3, 8), (3, 8)]  # the LSTM's h and c
    assert state.reads.shape == (3, 8) and state.memory.shape == (3, 6, 4)
    assert state.read_weights.shape == (3, 2, 6) and state.write_weights.shape == (3, 3, 6)
    np.testing.assert_allclose(state.read_weights.numpy().sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(state.write_weights.numpy().sum(-1), 1.0, atol=1e-5)


def test_dense_controller():
    cell = NTMCell(units=5, memory_slots=4, memory_width=3, controller="dense")
    outputs, state = run_cell(cell, tf.random.normal([2, 3, 4]))
    assert outputs.shape == (2, 3, 8) and [h.shape for h in state.controller] == [(2, 5)]


def test_initial_memory_is_the_small_constant():
    cell = NTMCell(units=4, memory_slots=5, memory_width=3, memory_init=1e-3)
    state = cell.get_initial_state(batch_size=2)
    np.testing.assert_array_equal(state.memory.numpy(), np.full([2, 5, 3], 1e-3, np.float32))


def test_get_config_round_trip_gives_the_same_cell():
    cell = NTMCell(units=7, memory_slots=9, memory_width=3, read_heads=2, write_heads=1,
                   shift_range=3, controller="dense", clip_value=5.0, memory_init=0.01)
    clone = tf.keras.layers.deserialize(tf.keras.layers.serialize(cell))
    assert isinstance(clone, NTMCell) and clone.get_config() == cell.get_config()


@pytest.mark.parametrize("kwargs, name", [
    (dict(units=0), "units"), (dict(memory_slots=-3), "memory_slots"),
    (dict(memory_width=2.5), "memory_width"), (dict(read_heads=0), "read_heads"),
    (dict(memory_slots=4, shift_range=2), "shift_range"), (dict(controller="gru"), "controller"),
    (dict(clip_value=0), "clip_value")])
def test_bad_configuration_is_rejected_naming_the_option(kwargs, name):
    with pytest.raises(ValueError, match=name):
        NTMCell(**kwargs)


def test_large_inputs_stay_finite_values_and_gradients():
    cell = NTMCell(units=6, memory_slots=5, memory_width=4)
    rnn = tf.keras.layers.RNN(cell, return_sequences=True)
    x = tf.constant(np.random.default_rng(0).normal(size=[2, 6, 3]) * 1e4, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = rnn(x)
        loss = tf.reduce_sum(out)
    grads = tape.gradient(loss, [x] + rnn.trainable_variables)
    assert np.all(np.isfinite(out.numpy()))
    assert all(np.all(np.isfinite(g.numpy())) for g in grads)


def test_one_cell_step_gradients_match_finite_differences():
    tf.keras.utils.set_random_seed(0)
    cell = NTMCell(units=4, memory_slots=4, memory_width=3, shift_range=1)
    cell.build(tf.TensorShape([None, 2]))
    state = cell.get_initial_state(batch_size=1)
    rng = np.random.default_rng(0)
    # a non-trivial memory and controller state, so all paths carry gradient
    memory0 = tf.constant(rng.normal(size=[1, 4, 3]), tf.float32)
    h0 = tf.constant(rng.normal(size=[1, 4]) * 0.5, tf.float32)

    def step(x, h, memory):
        out, new_state = cell(x, state._replace(controller=(h, state.controller[1]),
                                                memory=memory))
        return tf.concat([out, tf.reshape(new_state.memory, [1, -1])], axis=-1)

    x0 = tf.constant(rng.normal(size=[1, 2]), tf.float32)
    theoretical, numerical = tf.test.compute_gradient(step, [x0, h0, memory0], delta=1e-3)
    for t, nmr in zip(theoretical, numerical):
        np.testing.assert_allclose(t, nmr, atol=5e-3)


def test_memory_step_gradients_match_finite_differences():
    rng = np.random.default_rng(1)
    b, n, w, r = 1, 4, 3, 1
    weights = np.full([b, 1, n], 1 / n)
    args = [rng.normal(size=[b, n, w]), weights, weights,
            rng.normal(size=[b, 1, read_parameter_size(w, r)]),
            rng.normal(size=[b, 1, write_parameter_size(w, r)])]
    args = [tf.constant(a, tf.float32) for a in args]

    def step(*a):
        res = memory_step(*a)
        return tf.concat([tf.reshape(res.memory, [-1]), tf.reshape(res.reads, [-1])], 0)

    theoretical, numerical = tf.test.compute_gradient(step, args, delta=1e-3)
    for t, nmr in zip(theoretical, numerical):
        np.testing.assert_allclose(t, nmr, atol=5e-3)
