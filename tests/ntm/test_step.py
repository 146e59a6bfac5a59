"""memory_step (write, then read the written memory) against the NumPy reference equations."""
import numpy as np
import pytest
import tensorflow as tf

from rasa_ntm_policy.ntm import memory_step
from rasa_ntm_policy.ntm.heads import head_parameters, read_parameter_size, write_parameter_size
from tests import reference


def reference_step(memory, read_prev, write_prev, raw_read, raw_write, values=None):
    n, w = memory.shape[1:]
    r = (raw_read.shape[-1] - w - 4) // 2
    wp = {k: np.asarray(v, np.float64) if v is not None else None
          for k, v in head_parameters(raw_write, w, r, True)._asdict().items()}
    rp = {k: np.asarray(v, np.float64) if v is not None else None
          for k, v in head_parameters(raw_read, w, r, False)._asdict().items()}
    erase, add = wp["erase"].copy(), wp["add"].copy()
    if values is not None:
        erase[..., :values.shape[-1]] = 1.0
        add[..., :values.shape[-1]] = values[:, None, :]
    ww = reference.address(memory, write_prev, wp["keys"], wp["strengths"], wp["gate"],
                           wp["shift_weights"], wp["gamma"])
    new_memory = reference.write(memory, ww, erase, add)
    rw = reference.address(new_memory, read_prev, rp["keys"], rp["strengths"], rp["gate"],
                           rp["shift_weights"], rp["gamma"])
    return new_memory, reference.read(new_memory, rw), rw, ww


@pytest.mark.parametrize("write_heads, read_heads, with_values", [
    (1, 1, False), (1, 3, False), (1, 2, True), (2, 2, False), (3, 1, True)])
def test_memory_step_matches_the_equations(write_heads, read_heads, with_values):
    rng = np.random.default_rng(write_heads * 10 + read_heads)
    b, n, w, r = 3, 9, 6, 1

    def weights(h):
        x = rng.normal(size=[b, h, n]) * 2
        return (np.exp(x) / np.exp(x).sum(-1, keepdims=True)).astype(np.float32)

    memory = rng.normal(size=[b, n, w]).astype(np.float32)
    raw_read = (rng.normal(size=[b, read_heads, read_parameter_size(w, r)]) * 2).astype(np.float32)
    raw_write = (rng.normal(size=[b, write_heads, write_parameter_size(w, r)]) * 2).astype(
        np.float32)
    values = rng.uniform(size=[b, 2]).astype(np.float32) if with_values else None
    args = (memory, weights(read_heads), weights(write_heads), raw_read, raw_write)
    got = memory_step(*args, values=values)
    expected = reference_step(*args, values=values)
    for g, e in zip((got.memory, got.reads, got.read_weights, got.write_weights), expected):
        np.testing.assert_allclose(g.numpy(), e, atol=2e-5)


def test_memory_step_stays_finite_on_zero_memory_and_one_hot_weights():
    b, n, w = 2, 5, 4
    one_hot = np.zeros([b, 1, n], np.float32)
    one_hot[:, :, 2] = 1
    one_hot = tf.constant(one_hot)
    args = [tf.zeros([b, n, w]), one_hot, one_hot,
            tf.fill([b, 1, read_parameter_size(w, 1)], 30.0),
            tf.fill([b, 1, write_parameter_size(w, 1)], 30.0)]
    with tf.GradientTape() as tape:
        tape.watch(args)
        result = memory_step(*args)
        loss = tf.reduce_sum(result.reads) + tf.reduce_sum(result.memory)
    for g in tape.gradient(loss, args):
        assert np.all(np.isfinite(g.numpy()))
    np.testing.assert_allclose(result.read_weights.numpy().sum(-1), 1.0, atol=1e-5)
