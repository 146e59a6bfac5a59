"""Seeded NumPy inputs for the GPU checks, made the same way on this machine and the GPU machine.

NumPy only (the GPU machine has no TensorFlow). Large inputs are never sent: both sides rebuild
them from the seed, and TensorFlow's CPU results for some rows travel with the exported programs.
"""
import numpy as np


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def memory_step_inputs(batch, slots=128, width=20, shift_range=1, seed=0):
    """memory [B,N,W], read/write weights [B,1,N], raw read/write parameters [B,1,P]."""
    rng = np.random.default_rng(seed)
    f = np.float32
    return [rng.normal(size=[batch, slots, width]).astype(f),
            _softmax(rng.normal(size=[batch, 1, slots]) * 3).astype(f),
            _softmax(rng.normal(size=[batch, 1, slots]) * 3).astype(f),
            (rng.normal(size=[batch, 1, width + 2 * shift_range + 4]) * 2).astype(f),
            (rng.normal(size=[batch, 1, 3 * width + 2 * shift_range + 4]) * 2).astype(f)]


def sequence_inputs(batch, turns, features, seed=0):
    """Turn features [B, T, F] of 0/1 values, like a featurized dialogue."""
    rng = np.random.default_rng(seed)
    return [(rng.uniform(size=[batch, turns, features]) < 0.1).astype(np.float32)]


def cell_step_inputs(batch, features, units, slots=128, width=20, seed=0):
    """x [B,F], LSTM h and c [B,U], reads [B,W], read/write weights [B,1,N], memory [B,N,W]."""
    rng = np.random.default_rng(seed)
    f = np.float32
    return [(rng.uniform(size=[batch, features]) < 0.1).astype(f),
            np.tanh(rng.normal(size=[batch, units])).astype(f),
            rng.normal(size=[batch, units]).astype(f),
            rng.normal(size=[batch, width]).astype(f),
            _softmax(rng.normal(size=[batch, 1, slots]) * 3).astype(f),
            _softmax(rng.normal(size=[batch, 1, slots]) * 3).astype(f),
            rng.normal(size=[batch, slots, width]).astype(f)]


# How a variant stores the memory [B, N, W]: the transpose to its layout, and its batch axis.
MEMORY_LAYOUTS = {"rows": ((0, 1, 2), 0), "slots_minor": ((0, 2, 1), 0), "planes": ((2, 0, 1), 1)}


def in_layout(memory, layout):
    """memory [B, N, W] stored as `layout` (rows [B, N, W], slots_minor [B, W, N], planes
    [W, B, N])."""
    return np.ascontiguousarray(memory.transpose(MEMORY_LAYOUTS[layout][0]))


def check_rows(batch):
    """The rows whose outputs are compared between the CPU and the GPU."""
    first, last = np.arange(min(batch, 64)), np.arange(max(0, batch - 64), batch)
    return np.unique(np.concatenate([first, last]))
