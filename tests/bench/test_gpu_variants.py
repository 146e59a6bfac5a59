"""bench/gpu/gpu_variants.py: the step variants timed on the GPU compute the library's step."""
import numpy as np
import pytest
import tensorflow as tf

from rasa_ntm_policy.ntm import memory_step
from rasa_ntm_policy.ntm.heads import read_parameter_size, write_parameter_size
from tests.bench_scripts import bench_module

variants = bench_module("gpu/gpu_variants")


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


def slot_minor(two_pass, unrolled_first_pass=False):
    def step(memory, *args, **kwargs):
        result = variants.memory_step_slot_minor(tf.transpose(memory, [0, 2, 1]), *args,
                                                 two_pass=two_pass,
                                                 unrolled_first_pass=unrolled_first_pass,
                                                 **kwargs)
        return result._replace(memory=tf.transpose(result.memory, [0, 2, 1]))
    return step


def planes(form):
    def step(memory, *args, **kwargs):
        result = variants.memory_step_planes(tf.transpose(memory, [2, 0, 1]), *args, form=form,
                                             **kwargs)
        return result._replace(memory=tf.transpose(result.memory, [1, 2, 0]))
    return step


VARIANTS = {"two_pass": variants.memory_step_two_pass, "slot_minor": slot_minor(False),
            "slot_minor_two_pass": slot_minor(True),
            "slot_minor_two_pass_unrolled": slot_minor(True, unrolled_first_pass=True),
            **{f"planes_{form}": planes(form) for form in variants.PLANE_SUMS}}
TWO_PASS_VARIANTS = ["two_pass", "slot_minor_two_pass_unrolled"] + [
    f"planes_{form}" for form in variants.PLANE_SUMS]


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


@pytest.mark.parametrize("variant", TWO_PASS_VARIANTS)
@pytest.mark.parametrize("memory_kind", ["random", "constant", "zero"])
def test_two_pass_gradients_equal_the_library_ones(variant, memory_kind):
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

    for g, e in zip(gradients(VARIANTS[variant]), gradients(memory_step)):
        assert np.all(np.isfinite(g.numpy()))
        scale = max(1.0, float(np.abs(e.numpy()).max()))
        np.testing.assert_allclose(g.numpy() / scale, e.numpy() / scale, atol=2e-5)


@pytest.mark.parametrize("variant", TWO_PASS_VARIANTS)
def test_two_pass_stays_finite_when_the_write_empties_a_slot(variant):
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
        result = VARIANTS[variant](*args)
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


def test_materialized_all_is_the_identity_with_identity_gradients():
    x = tf.constant([[1.0, -2.0], [3.0, 0.5]])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y, z = variants.materialized_all(x * 2.0, x + 1.0)
        loss = tf.reduce_sum(y * 3.0) + tf.reduce_sum(z * x)
    np.testing.assert_array_equal(y.numpy(), x.numpy() * 2.0)
    np.testing.assert_array_equal(z.numpy(), x.numpy() + 1.0)
    # d/dx [sum 3 * 2x + sum (x + 1) * x] = 6 + 2x + 1
    np.testing.assert_allclose(tape.gradient(loss, x).numpy(), 7.0 + 2.0 * x.numpy())
    hlo = tf.function(lambda a: variants.materialized_all(a, a * 2.0),
                      jit_compile=True).experimental_get_compiler_ir(x)(stage="hlo")
    assert hlo.count(" opt-barrier(") == 1  # one barrier over both


def test_plane_sums_are_the_two_pass_sums_in_every_form():
    rng = np.random.default_rng(6)
    b, n, w, hr = 3, 10, 5, 2
    memory = rng.normal(size=[b, n, w])
    keys_write, erase, add = (rng.normal(size=[b, w]) for _ in range(3))
    keys_read = rng.normal(size=[b, hr, w])
    m2 = memory ** 2
    dot = lambda x, v: np.einsum("bnw,bw->bn", x, v)  # noqa: E731
    expected = [dot(memory, keys_write), m2.sum(-1),
                dot(memory, 2 * add) - dot(m2, 2 * erase),
                dot(m2, erase ** 2) - dot(memory, 2 * erase * add),
                np.einsum("bnw,bhw->bhn", memory, keys_read),
                np.einsum("bnw,bhw->bhn", memory, erase[:, None] * keys_read)]
    planes = tf.constant(memory.transpose(2, 0, 1).astype(np.float32))
    vectors = [tf.constant(v.astype(np.float32)) for v in (keys_write, keys_read, erase, add)]
    for form in variants.PLANE_SUMS:
        got = variants.plane_sums(planes, *vectors, form=form)
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g.numpy(), e, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="form must be one of"):
        variants.plane_sums(planes, *vectors, form="columns")
