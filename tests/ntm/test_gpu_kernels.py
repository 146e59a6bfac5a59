"""The memory step compiles with XLA, and every op in it has a float32 GPU kernel.

TensorFlow's pip build carries its GPU kernel registrations on a machine without a GPU, so the
registry can be asked here. The step is the same one bench/gpu/gpu_export.py sends to a real GPU.
"""
import numpy as np
import tensorflow as tf
from tensorflow.python.framework import kernels

from rasa_ntm_policy.ntm import NTMCell, memory_step
from rasa_ntm_policy.ntm.heads import read_parameter_size, write_parameter_size

B, N, W, R = 4, 16, 5, 1
# Graph plumbing that never runs as a device kernel.
NOT_KERNELS = {"Placeholder", "NoOp", "Const"}


def step_inputs():
    rng = np.random.default_rng(0)
    weights = np.full([B, 1, N], 1 / N, np.float32)
    return [rng.normal(size=[B, N, W]).astype(np.float32), weights, weights,
            rng.normal(size=[B, 1, read_parameter_size(W, R)]).astype(np.float32),
            rng.normal(size=[B, 1, write_parameter_size(W, R)]).astype(np.float32)]


def step(*args):
    return tuple(memory_step(*args))


def has_float_gpu_kernel(op_type):
    for kernel in kernels.get_registered_kernels_for_op(op_type).kernel:
        # DEFAULT kernels (variable reads, for instance) run on any device, the GPU included
        if kernel.device_type not in ("GPU", "DEFAULT"):
            continue
        type_constraints = [c for c in kernel.constraint if c.allowed_values.list.type]
        if all(tf.float32.as_datatype_enum in c.allowed_values.list.type or c.name != "T"
               for c in type_constraints):
            return True
    return False


def graph_op_types(concrete_function):
    types = set()
    graphs = [concrete_function.graph.as_graph_def()]
    for graph in graphs:
        types.update(node.op for node in graph.node)
        for fn in graph.library.function:
            types.update(node.op for node in fn.node_def)
    return types - NOT_KERNELS


def test_memory_step_compiles_with_xla():
    compiled = tf.function(step, jit_compile=True)
    hlo = compiled.experimental_get_compiler_ir(*step_inputs())(stage="hlo")
    assert "ENTRY" in hlo
    eager = step(*step_inputs())
    for a, b in zip(compiled(*step_inputs()), eager):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)


def test_every_op_of_the_memory_step_has_a_float32_gpu_kernel():
    concrete = tf.function(step).get_concrete_function(*step_inputs())
    op_types = graph_op_types(concrete)
    assert {"Sum", "Softmax", "Roll", "Prod"} <= op_types  # the walk sees the real step
    missing = sorted(op for op in op_types if not has_float_gpu_kernel(op))
    assert not missing, f"ops without a float32 GPU kernel: {missing}"


def test_every_op_of_a_cell_step_has_a_float32_gpu_kernel_and_compiles():
    cell = NTMCell(units=8, memory_slots=N, memory_width=W)
    cell.build(tf.TensorShape([None, 3]))
    x = tf.zeros([B, 3])
    state = cell.get_initial_state(batch_size=B)

    def cell_step(x, *state):
        out, new_state = cell(x, list(state))
        return [out] + tf.nest.flatten(new_state)

    concrete = tf.function(cell_step).get_concrete_function(x, *state)
    missing = sorted(op for op in graph_op_types(concrete) if not has_float_gpu_kernel(op))
    assert not missing, f"ops without a float32 GPU kernel: {missing}"
    assert "ENTRY" in tf.function(cell_step, jit_compile=True).experimental_get_compiler_ir(
        x, *state)(stage="hlo")


def test_the_kernel_check_can_fail():
    # a CPU-only op must be reported, or the test above proves nothing
    assert not has_float_gpu_kernel("DecodeJpeg")
