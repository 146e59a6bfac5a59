"""Times the library's memory step against its two-pass variants on this machine's CPU.

The XLA-compiled step alone at the batch sizes the policy uses (1 when it predicts, 8 when it
trains) and at 256: the minimum over 5 rounds of 200 calls, the forms interleaved in each round.
It prints microseconds per call; bench/gpu/README.md quotes it.

  .venv/bin/python bench/gpu/cpu_step_forms.py [--batches 1 8 256]
"""
import argparse
import functools
import os
import sys
import time

import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpu_inputs  # noqa: E402
import gpu_variants  # noqa: E402
from rasa_ntm_policy.ntm import memory_step  # noqa: E402

FORMS = {
    "direct": (memory_step, "rows"),
    "slotminor_two_pass": (functools.partial(gpu_variants.memory_step_slot_minor, two_pass=True),
                           "slots_minor"),
    "slotminor_two_pass_unrolled": (functools.partial(
        gpu_variants.memory_step_slot_minor, two_pass=True, unrolled_first_pass=True),
        "slots_minor"),
}


def compiled_forms(batch):
    """{form: (XLA-compiled step, its arguments)} on the same seeded inputs."""
    forms = {}
    for name, (step, layout) in FORMS.items():
        inputs = gpu_inputs.memory_step_inputs(batch)
        inputs[0] = gpu_inputs.in_layout(inputs[0], layout)
        args = [tf.constant(x) for x in inputs]
        fn = tf.function(lambda *a, step=step: tuple(step(*a)), jit_compile=True)
        fn(*args)
        forms[name] = (fn, args)
    return forms


def best_seconds(forms, rounds=5, calls=200):
    best = {name: float("inf") for name in forms}
    for _ in range(rounds):
        for name, (fn, args) in forms.items():
            start = time.perf_counter()
            for _ in range(calls):
                out = fn(*args)
            out[0].numpy()
            best[name] = min(best[name], (time.perf_counter() - start) / calls)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 256])
    args = parser.parse_args()
    for batch in args.batches:
        best = best_seconds(compiled_forms(batch))
        print(f"batch {batch}: " + ", ".join(f"{n} {s * 1e6:.0f} us" for n, s in best.items()),
              flush=True)


if __name__ == "__main__":
    main()
