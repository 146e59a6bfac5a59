"""Exports the NTM kernels as XLA programs for the GPU machine, with TensorFlow's CPU results.

Writes to --out (default gpu_payload/, git-ignored): for each case an HLO module
(`experimental_get_compiler_ir(...)(stage="hlo_serialized")` of a `jit_compile=True` function),
and a JSON/NPZ manifest with the seed, the shapes, the trained-weight inputs, TensorFlow's
outputs on some rows and the time per call on this machine's CPU. bench/gpu/gpu_run.py runs them.

Cases (N=128, W=20, one read and one write head, R=1), the library's step (memory_step) and,
for comparison on the same card, the variants of bench/gpu/gpu_variants.py:
  memory_step_b256, memory_step_b16384: address + write + read (rasa_ntm_policy.ntm.memory_step)
  memory_step_two_pass_b16384: the same step in two passes over the memory
  memory_step_slotminor[_two_pass[_unrolled]]_b16384: the direct (two-pass) step on a memory
    stored [B, W, N]; _unrolled: its first pass as W slices added up (gpu_variants.plane_sums)
  memory_step_planes_{reduced,unrolled,stacked}_b16384: the two-pass step on a memory stored as
    planes [W, B, N], its first pass written three ways (gpu_variants.plane_sums)
  cell_step[_two_pass|_slotminor_two_pass[_unrolled]|_planes_{form}]_b16384: the full NTM cell
    step, LSTM controller of 100
  cell_step_dense64[...]_b16384: the same with NTMPolicy's default controller (dense, 64 units)
  controller_b16384: the LSTM controller of 100 and the head-parameter layer alone
  dialogues_b64_t50: a whole batch of 64 dialogues of 50 turns through the cell, one program

  .venv/bin/python bench/gpu/gpu_export.py && (run bench/gpu/gpu_run.py on the GPU machine)
"""
import argparse
import contextlib
import functools
import json
import os
import sys
import time

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpu_inputs  # noqa: E402

import gpu_variants  # noqa: E402
from rasa_ntm_policy.ntm import NTMCell, cell as cell_module, memory_step  # noqa: E402

FEATURES, UNITS, SLOTS, WIDTH = 64, 100, 128, 20
DENSE_UNITS = 64  # NTMPolicy's default controller: dense, 64 units


# TensorFlow leaves matmul precision at DEFAULT, which XLA's GPU backend may run as TF32 on
# Hopper; the exported dots ask for full float32 (HIGHEST), as TensorFlow computes on the CPU.
FULL_PRECISION_OPCODES = ("dot", "convolution")

# HLO instructions that only forward their first operand (a copy, or a dynamic-size annotation):
# some StableHLO importers reject them, so the exported module is rewired around them.
FORWARDING_OPCODES = ("copy", "set-dimension-size")


def without_forwarding_ops(serialized: bytes) -> bytes:
    """The same HLO module with every forwarding instruction replaced by its operand, and every
    matmul asking for full float32 precision."""
    from tensorflow.compiler.xla import xla_data_pb2
    from tensorflow.compiler.xla.service import hlo_pb2

    module = hlo_pb2.HloModuleProto()
    module.ParseFromString(serialized)
    for computation in module.computations:
        forward = {i.id: i.operand_ids[0] for i in computation.instructions
                   if i.opcode in FORWARDING_OPCODES}

        def resolve(instruction_id):
            while instruction_id in forward:
                instruction_id = forward[instruction_id]
            return instruction_id

        kept = [i for i in computation.instructions if i.id not in forward]
        for instruction in kept:
            if instruction.opcode in FULL_PRECISION_OPCODES:
                highest = xla_data_pb2.PrecisionConfig.HIGHEST
                instruction.precision_config.operand_precision[:] = [highest, highest]
        for instruction in kept:
            instruction.operand_ids[:] = [resolve(o) for o in instruction.operand_ids]
            instruction.control_predecessor_ids[:] = [
                resolve(o) for o in instruction.control_predecessor_ids]
        computation.root_id = resolve(computation.root_id)
        del computation.instructions[:]
        computation.instructions.extend(kept)
    return module.SerializeToString()


def cpu_time(fn, args, iters):
    fn(*args)
    start = time.perf_counter()
    for _ in range(iters):
        out = fn(*args)
    [o.numpy() for o in tf.nest.flatten(out)]
    return (time.perf_counter() - start) / iters


def export(name, fn, args, out_dir, seed_spec, cpu_iters, variables=(), memory_output=None):
    """Compiles fn for args, saves its HLO, the captured weights and checked output rows.

    The HLO takes the captured variables as parameters after the arguments, in capture order.
    memory_output: the index of the output that is the memory in seed_spec's layout (whose batch
    axis may not be the first); the rows of the other outputs are along their first axis.
    """
    compiled = tf.function(fn, jit_compile=True)
    concrete = compiled.get_concrete_function(*args)
    by_handle = {id(v.handle): v for v in variables}
    captured = [by_handle[id(h)].numpy() for h in concrete.captured_inputs]
    hlo = without_forwarding_ops(
        compiled.experimental_get_compiler_ir(*args)(stage="hlo_serialized"))
    with open(os.path.join(out_dir, f"{name}.hlo.pb"), "wb") as f:
        f.write(hlo)
    outputs = [o.numpy() for o in tf.nest.flatten(compiled(*args))]
    rows = gpu_inputs.check_rows(seed_spec["batch"])
    memory_axis = gpu_inputs.MEMORY_LAYOUTS[seed_spec.get("layout", "rows")][1]
    batch_axes = [memory_axis if i == memory_output else 0 for i in range(len(outputs))]
    np.savez(os.path.join(out_dir, f"{name}.npz"),
             **{f"weight_{i}": w for i, w in enumerate(captured)},
             **{f"out_{i}": np.take(o, rows, axis=axis)
                for i, (o, axis) in enumerate(zip(outputs, batch_axes))})
    seconds = cpu_time(compiled, args, cpu_iters)
    print(f"{name}: {len(hlo)} bytes of HLO, {len(captured)} weights, CPU {seconds * 1e3:.3f} ms",
          flush=True)
    return {"inputs": seed_spec, "num_weights": len(captured), "cpu_seconds_per_call": seconds,
            "output_shapes": [list(o.shape) for o in outputs], "batch_axes": batch_axes}


@contextlib.contextmanager
def patched(module, name, replacement):
    original = getattr(module, name)
    setattr(module, name, replacement)
    try:
        yield
    finally:
        setattr(module, name, original)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="gpu_payload")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    tf.keras.utils.set_random_seed(0)
    manifest = {}

    def export_step(name, batch, iters, step_fn=memory_step, layout="rows"):
        spec = {"kind": "memory_step", "batch": batch, "seed": 0, "layout": layout}
        inputs = gpu_inputs.memory_step_inputs(batch, SLOTS, WIDTH)
        inputs[0] = gpu_inputs.in_layout(inputs[0], layout)
        manifest[name] = export(name, lambda *a: tuple(step_fn(*a)), inputs, args.out, spec,
                                iters, memory_output=0)

    export_step("memory_step_b256", 256, 50)
    export_step("memory_step_b16384", 16384, 3)
    export_step("memory_step_two_pass_b16384", 16384, 3, gpu_variants.memory_step_two_pass)
    export_step("memory_step_slotminor_b16384", 16384, 3, gpu_variants.memory_step_slot_minor,
                "slots_minor")
    export_step("memory_step_slotminor_two_pass_b16384", 16384, 3,
                functools.partial(gpu_variants.memory_step_slot_minor, two_pass=True),
                "slots_minor")
    export_step("memory_step_slotminor_two_pass_unrolled_b16384", 16384, 3,
                functools.partial(gpu_variants.memory_step_slot_minor, two_pass=True,
                                  unrolled_first_pass=True), "slots_minor")
    for form in gpu_variants.PLANE_SUMS:
        export_step(f"memory_step_planes_{form}_b16384", 16384, 3,
                    functools.partial(gpu_variants.memory_step_planes, form=form), "planes")

    for controller, units in (("lstm", UNITS), ("dense", DENSE_UNITS)):
        cell = NTMCell(units=units, memory_slots=SLOTS, memory_width=WIDTH, controller=controller)
        cell.build(tf.TensorShape([None, FEATURES]))
        inputs = gpu_inputs.cell_step_inputs(16384, FEATURES, units, SLOTS, WIDTH)
        if controller == "dense":
            inputs = inputs[:2] + inputs[3:]
        spec = {"kind": "cell_step", "batch": 16384, "features": FEATURES, "units": units,
                "controller": controller, "seed": 0}

        if controller == "lstm":  # the controller and head layer alone, for the breakdown
            def controller_step(x, h, c, reads, cell=cell):
                output, (h, c) = cell.controller(tf.concat([x, reads], -1), [h, c])
                return [h, c, cell.head_layer(tf.clip_by_value(output, -cell.clip_value,
                                                               cell.clip_value))]

            manifest["controller_b16384"] = export(
                "controller_b16384", controller_step, inputs[:4], args.out,
                dict(spec, kind="controller"), 3, cell.variables)

        def cell_step(x, *state, cell=cell):
            out, new_state = cell(x, list(state))
            return [out] + tf.nest.flatten(new_state)  # the flat order of NTMState

        prefix = "cell_step" if controller == "lstm" else "cell_step_dense64"
        variants = [("", memory_step, "rows"),
                    ("_two_pass", gpu_variants.memory_step_two_pass, "rows"),
                    ("_slotminor_two_pass", functools.partial(
                        gpu_variants.memory_step_slot_minor, two_pass=True), "slots_minor"),
                    ("_slotminor_two_pass_unrolled", functools.partial(
                        gpu_variants.memory_step_slot_minor, two_pass=True,
                        unrolled_first_pass=True), "slots_minor"),
                    *((f"_planes_{form}", functools.partial(gpu_variants.memory_step_planes,
                                                             form=form), "planes")
                      for form in gpu_variants.PLANE_SUMS)]
        for suffix, step_fn, layout in variants:
            step_inputs = list(inputs)
            step_inputs[-1] = gpu_inputs.in_layout(inputs[-1], layout)
            name = f"{prefix}{suffix}_b16384"
            # the cell calls ntm.cell.memory_step: the variant takes its place while tracing
            with patched(cell_module, "memory_step", step_fn):
                manifest[name] = export(name, lambda *a: cell_step(*a), step_inputs, args.out,
                                        dict(spec, layout=layout), 3, cell.variables,
                                        memory_output=len(step_inputs) - 1)
        if controller == "lstm":
            lstm_cell = cell

    rnn = tf.keras.layers.RNN(lstm_cell, return_sequences=True, return_state=True)

    def dialogues(x):
        outputs, *state = rnn(x)
        return [outputs, state[-1]]

    spec = {"kind": "sequence", "batch": 64, "turns": 50, "features": FEATURES, "seed": 0}
    manifest["dialogues_b64_t50"] = export(
        "dialogues_b64_t50", dialogues, gpu_inputs.sequence_inputs(64, 50, FEATURES), args.out,
        spec, 20, lstm_cell.variables)
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
