"""bench/gpu_variants.py: the memory-step variants timed on the GPU compute the library's step."""
import numpy as np
import pytest
import tensorflow as tf

from rasa_ntm_policy.ntm import memory_step
from rasa_ntm_policy.ntm.heads import read_parameter_size, write_parameter_size
from tests.bench_scripts import bench_module

variants = bench_module("gpu_variants")


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


def step_args(rng, b=4, n=12, w=6, read_heads=1, shift_range=1, memory=None, write_heads=1):
    if memory is None:
        memory = rng.normal(size=[b, n, w]).astype(np.float32)
    return [tf.constant(memory),
            tf.constant(_softmax(rng.normal(size=[b, read_heads, n]) * 3)),
            tf.constant(_softmax(rng.normal(size=[b, write_heads, n]) * 3)),
            tf.constant((rng.normal(size=[b, read_heads, read_parameter_size(w, shift_range)])
                         * 2).astype(np.float32)),
            tf.constant((rng.normal(size=[b, write_heads, write_parameter_size(w, shift_range)])
                         * 2).astype(np.float32))]


def slot_minor(two_pass):
    def step(memory, *args, **kwargs):
        result = variants.memory_step_slot_minor(tf.transpose(memory, [0, 2, 1]), *args,
                                                 two_pass=two_pass, **kwargs)
        return result._replace(memory=tf.transpose(result.memory, [0, 2, 1]))
    return step


VARIANTS = {"two_pass": variants.memory_step_two_pass, "slot_minor": slot_minor(False),
            "slot_minor_two_pass": slot_minor(True)}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("read_heads, shift_range, with_values", [
    (1, 1, False), (3, 1, False), (2, 2, True), (1, 0, True)])
def test_variant_equals_the_library_step(variant, read_heads, shift_range, with_values):
    rng = np.random.default_rng(read_heads * 7 + shift_range)
    args = step_args(rng, read_heads=read_heads, shift_range=shift_range)
    values = tf.constant(rng.uniform(size=[4, 2]).astype(np.float32)) if with_values else None
    got = VARIANTS[variant](*args, values=values)
    expected = memory_step(*args, values=values)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g.numpy(), e.numpy(), atol=1e-5)
    compiled = tf.function(lambda *a: tuple(VARIANTS[variant](*a, values=values)),
                           jit_compile=True)
    for g, e in zip(compiled(*args), expected):
        np.testing.assert_allclose(g.numpy(), e.numpy(), atol=1e-5)


@pytest.mark.parametrize("memory_kind", ["random", "constant", "zero"])
def test_two_pass_gradients_equal_the_library_ones(memory_kind):
    rng = np.random.default_rng(3)
    memory = {"random": rng.normal(size=[4, 12, 6]),
              "constant": np.full([4, 12, 6], 1e-6),  # NTMCell's initial memory
              "zero": np.zeros([4, 12, 6])}[memory_kind].astype(np.float32)
    args = step_args(rng, read_heads=2, memory=memory)
    projection = tf.constant(rng.normal(size=[6]).astype(np.float32))

    def gradients(step):
        with tf.GradientTape() as tape:
            tape.watch(args)
            result = step(*args)
            loss = (tf.reduce_sum(tf.square(result.reads))
                    + tf.reduce_sum(result.memory * projection)
                    + tf.reduce_sum(result.read_weights[..., :3]))
        return tape.gradient(loss, args)

    for g, e in zip(gradients(variants.memory_step_two_pass), gradients(memory_step)):
        assert np.all(np.isfinite(g.numpy()))
        scale = max(1.0, float(np.abs(e.numpy()).max()))
        np.testing.assert_allclose(g.numpy() / scale, e.numpy() / scale, atol=2e-5)


def test_two_pass_stays_finite_when_the_write_empties_a_slot():
    # saturated parameters: erase 1 and one-hot weights on slot 2, add tanh(0) = 0. The expanded
    # squared norm of that slot cancels to about 0 and must not go negative under the sqrt.
    b, n, w = 2, 5, 4
    one_hot = np.zeros([b, 1, n], np.float32)
    one_hot[:, :, 2] = 1
    raw_write = np.full([b, 1, write_parameter_size(w, 1)], 30.0, np.float32)
    raw_write[..., -w:] = 0.0
    args = [tf.constant(np.random.default_rng(4).normal(size=[b, n, w]).astype(np.float32)),
            tf.constant(one_hot), tf.constant(one_hot),
            tf.fill([b, 1, read_parameter_size(w, 1)], 30.0), tf.constant(raw_write)]
    with tf.GradientTape() as tape:
        tape.watch(args)
        result = variants.memory_step_two_pass(*args)
        loss = tf.reduce_sum(result.reads) + tf.reduce_sum(result.read_weights[..., 0])
    for g in tape.gradient(loss, args):
        assert np.all(np.isfinite(g.numpy()))
    np.testing.assert_allclose(result.read_weights.numpy(),
                               memory_step(*args).read_weights.numpy(), atol=1e-4)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variants_refuse_two_write_heads(variant):
    args = step_args(np.random.default_rng(5), write_heads=2)
    with pytest.raises(ValueError, match="one write head"):
        VARIANTS[variant](*args)


def test_materialized_is_the_identity_with_an_identity_gradient():
    x = tf.constant([[1.0, -2.0], [3.0, 0.5]])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = variants.materialized(x * 2.0)
        loss = tf.reduce_sum(y * tf.constant([[1.0, 2.0], [3.0, 4.0]]))
    np.testing.assert_array_equal(y.numpy(), x.numpy() * 2.0)
    np.testing.assert_array_equal(tape.gradient(loss, x).numpy(), [[2.0, 4.0], [6.0, 8.0]])
    hlo = tf.function(variants.materialized, jit_compile=True).experimental_get_compiler_ir(x)(
        stage="hlo")
    assert "opt-barrier" in hlo
