"""Runs the programs of bench/gpu_export.py on the GPU machine (JAX's XLA client, no TensorFlow).

For each case: rebuilds the seeded inputs, compiles the HLO for the GPU, compares the checked rows
of every output with TensorFlow's CPU results, times --iters calls after a warm-up, and writes
gpu_results.json (per call, bytes of inputs + outputs, effective bandwidth, max |GPU - CPU|).

  python3 bench/gpu_run.py gpu_payload --out $OUT
"""
import argparse
import json
import os
import sys
import time

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpu_inputs  # noqa: E402
from xla_client_compat import compile_on, execute, to_stablehlo  # noqa: E402


def inputs_for(spec):
    kind = spec["kind"]
    if kind == "memory_step":
        return gpu_inputs.memory_step_inputs(spec["batch"], seed=spec["seed"])
    if kind == "cell_step":
        return gpu_inputs.cell_step_inputs(spec["batch"], spec["features"], spec["units"],
                                           seed=spec["seed"])
    return gpu_inputs.sequence_inputs(spec["batch"], spec["turns"], spec["features"],
                                      seed=spec["seed"])


def run_case(device, payload, name, entry, iters):
    io = np.load(os.path.join(payload, f"{name}.npz"))
    inputs = inputs_for(entry["inputs"])
    weights = [io[f"weight_{i}"] for i in range(entry["num_weights"])]
    exe = compile_on(device, to_stablehlo(open(os.path.join(payload, f"{name}.hlo.pb"), "rb").read()))
    buffers = [jax.device_put(x, device) for x in inputs + weights]
    outs = execute(exe, buffers)
    rows = gpu_inputs.check_rows(inputs[0].shape[0])
    diffs = [float(np.abs(np.asarray(o)[rows] - io[f"out_{i}"]).max()) for i, o in enumerate(outs)]
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
    print(name, json.dumps(result), flush=True)
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("payload")
    parser.add_argument("--out", default=".")
    parser.add_argument("--iters", type=int, default=200)
    args = parser.parse_args()
    device = jax.devices()[0]
    manifest = json.load(open(os.path.join(args.payload, "manifest.json")))
    results = {"device": device.device_kind, "platform": device.platform,
               "jax": jax.__version__, "cases": {}}
    print(results, flush=True)
    for name, entry in manifest.items():
        try:
            results["cases"][name] = run_case(device, args.payload, name, entry, args.iters)
        except Exception as error:  # report and go on with the other cases
            results["cases"][name] = {"error": repr(error)}
            print(name, "failed:", repr(error), flush=True)
        with open(os.path.join(args.out, "gpu_results.json"), "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
