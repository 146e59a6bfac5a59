"""Runs the programs of bench/gpu/gpu_export.py on the GPU machine (JAX's XLA client, no TF).

For each case: rebuilds the seeded inputs, compiles the HLO for the GPU, compares the checked rows
of every output with TensorFlow's CPU results, times --iters calls after a warm-up, and writes
gpu_results.json (per call, bytes of inputs + outputs, effective bandwidth, max |GPU - CPU|,
the GPU kernels XLA made of it), the optimized HLO of every case in optimized_hlo.txt, and the
card's device-to-device copy rate.

  python3 bench/gpu/gpu_run.py gpu_payload --out $OUT
"""
import argparse
import json
import os
import re
import sys
import time

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpu_inputs  # noqa: E402
from xla_client_compat import compile_on, execute, to_stablehlo  # noqa: E402


def inputs_for(spec):
    kind = spec["kind"]
    layout = spec.get("layout", "rows")
    if kind == "memory_step":
        inputs = gpu_inputs.memory_step_inputs(spec["batch"], seed=spec["seed"])
        inputs[0] = gpu_inputs.in_layout(inputs[0], layout)
        return inputs
    if kind in ("cell_step", "controller"):
        inputs = gpu_inputs.cell_step_inputs(spec["batch"], spec["features"], spec["units"],
                                             seed=spec["seed"])
        if kind == "controller":
            return inputs[:4]  # x, h, c, reads
        inputs[-1] = gpu_inputs.in_layout(inputs[-1], layout)
        if spec.get("controller") == "dense":
            return inputs[:2] + inputs[3:]  # no LSTM cell state c
        return inputs
    return gpu_inputs.sequence_inputs(spec["batch"], spec["turns"], spec["features"],
                                      seed=spec["seed"])


# Instructions of an optimized entry computation that launch nothing on the GPU.
NOT_LAUNCHES = ("parameter", "tuple", "get-tuple-element", "bitcast", "constant")


def gpu_kernels(optimized_hlo: str):
    """The opcodes of the entry computation's instructions that run on the GPU, in order."""
    entry = optimized_hlo[optimized_hlo.index("\nENTRY"):]
    entry = entry[:entry.index("\n}")]
    opcodes = []
    for line in entry.splitlines()[1:]:
        match = re.search(r"= (?:\([^)]*\)|\S+) ([a-z-]+)\(", line)
        if match and match.group(1) not in NOT_LAUNCHES:
            kind = re.search(r"kind=(k\w+)", line)
            opcodes.append(match.group(1) + (f":{kind.group(1)}" if kind else ""))
    return opcodes


def copy_rate(device, megabytes=1024, iters=50):
    """Device-to-device copy rate in TB/s (bytes read + bytes written per second)."""
    x = jax.device_put(np.ones(megabytes * 2**20 // 4, np.float32), device)
    copy = jax.jit(lambda a: a * 1.0)
    copy(x).block_until_ready()
    start = time.perf_counter()
    for _ in range(iters):
        y = copy(x)
    y.block_until_ready()
    return 2 * x.nbytes * iters / (time.perf_counter() - start) / 1e12


def run_case(device, payload, name, entry, iters, hlo_log):
    io = np.load(os.path.join(payload, f"{name}.npz"))
    inputs = inputs_for(entry["inputs"])
    weights = [io[f"weight_{i}"] for i in range(entry["num_weights"])]
    with open(os.path.join(payload, f"{name}.hlo.pb"), "rb") as f:
        exe = compile_on(device, to_stablehlo(f.read()))
    optimized = exe.hlo_modules()[0].to_string() if hasattr(exe, "hlo_modules") else ""
    hlo_log.write(f"==== {name}\n{optimized}\n")
    buffers = [jax.device_put(x, device) for x in inputs + weights]
    outs = execute(exe, buffers)
    rows = gpu_inputs.check_rows(entry["inputs"]["batch"])
    axes = entry.get("batch_axes", [0] * len(outs))
    diffs = [float(np.abs(np.take(np.asarray(o), rows, axis=axis) - io[f"out_{i}"]).max())
             for i, (o, axis) in enumerate(zip(outs, axes))]
    for _ in range(5):
        outs = execute(exe, buffers)
    [o.block_until_ready() for o in outs]
    start = time.perf_counter()
    for _ in range(iters):
        outs = execute(exe, buffers)
    [o.block_until_ready() for o in outs]
    per_call = (time.perf_counter() - start) / iters
    traffic = sum(x.nbytes for x in inputs + weights) + sum(
        np.dtype(o.dtype).itemsize * o.size for o in outs)
    result = {"per_call_us": per_call * 1e6, "bytes_in_out": traffic,
              "effective_tb_per_s": traffic / per_call / 1e12,
              "max_abs_diff_vs_tf_cpu": max(diffs),
              "cpu_per_call_us": entry["cpu_seconds_per_call"] * 1e6,
              "finite": bool(all(np.isfinite(np.asarray(o)).all() for o in outs))}
    if optimized:
        kernels = gpu_kernels(optimized)
        result.update(gpu_kernels=len(kernels), kernel_kinds=kernels)
    print(name, json.dumps(result), flush=True)
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("payload")
    parser.add_argument("--out", default=".")
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--only", nargs="*", help="run only these cases")
    parser.add_argument("--no-copy-rate", action="store_true",
                        help="skip measuring the card's copy rate (under a profiler)")
    args = parser.parse_args()
    device = jax.devices()[0]
    manifest = json.load(open(os.path.join(args.payload, "manifest.json")))
    results = {"device": device.device_kind, "platform": device.platform,
               "jax": jax.__version__, "cases": {}}
    if not args.no_copy_rate:
        results["copy_tb_per_s"] = copy_rate(device)
    print(results, flush=True)
    with open(os.path.join(args.out, "optimized_hlo.txt"), "w") as hlo_log:
        for name, entry in manifest.items():
            if args.only and name not in args.only:
                continue
            try:
                results["cases"][name] = run_case(device, args.payload, name, entry, args.iters,
                                                  hlo_log)
            except Exception as error:  # report and go on with the other cases
                results["cases"][name] = {"error": repr(error)}
                print(name, "failed:", repr(error), flush=True)
            with open(os.path.join(args.out, "gpu_results.json"), "w") as f:
                json.dump(results, f, indent=1)
    print(f"{'case':28s} {'us/call':>9s} {'TB/s':>6s} {'kernels':>7s} {'max diff':>9s}")
    for name, r in results["cases"].items():
        if "error" in r:
            print(f"{name:28s} error")
            continue
        print(f"{name:28s} {r['per_call_us']:9.1f} {r['effective_tb_per_s']:6.2f} "
              f"{r.get('gpu_kernels', -1):7d} {r['max_abs_diff_vs_tf_cpu']:9.2g}")


if __name__ == "__main__":
    main()
