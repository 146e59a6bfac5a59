"""The NTM paper's copy task: an NTM against an LSTM, learning curves and length generalisation.

Trains both for --steps on random 8-bit sequences of lengths 1-20 (NTM memory 128 x 20, one read
and one write head, shift range 1, LSTM controller of --units; the LSTM baseline has --lstm-units),
then measures bit errors per sequence of the trained models on lengths 20, 30 and 50.
Prints the figures and saves bench/results/copy_task.json and copy_task.png.

  .venv/bin/python bench/copy_task.py --steps 3000
"""
import argparse
import json
import os
import sys
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import copy_task_harness as copy_task  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def run(kind, units, args):
    copy_task.seed_everything(args.seed)
    model = copy_task.build_model(kind, units, memory_slots=128, memory_width=20)
    start = time.perf_counter()
    curve = copy_task.train(model, args.steps, seed=args.seed + 1, batch_size=args.batch_size,
                            min_length=1, max_length=20, learning_rate=args.learning_rate,
                            log_every=args.log_every)
    seconds = time.perf_counter() - start
    errors = copy_task.evaluate(model, [20, 30, 50], seed=args.seed + 2)
    print(f"{kind}: {model.count_params()} parameters, {args.steps} steps in {seconds:.0f} s, "
          f"final loss {curve[-1][1]:.4f}, bit errors per sequence "
          + ", ".join(f"length {k}: {v:.2f}" for k, v in errors.items()), flush=True)
    return {"units": units, "parameters": model.count_params(), "train_seconds": seconds,
            "curve": curve, "bit_errors_per_sequence": {str(k): v for k, v in errors.items()}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--units", type=int, default=100, help="NTM controller size")
    parser.add_argument("--lstm-units", type=int, default=256, help="LSTM baseline size")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-every", type=int, default=100)
    parser.add_argument("--out", default=RESULTS)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    results = {"steps": args.steps, "batch_size": args.batch_size,
               "learning_rate": args.learning_rate, "lengths_trained": [1, 20],
               "ntm": run("ntm", args.units, args), "lstm": run("lstm", args.lstm_units, args)}
    with open(os.path.join(args.out, "copy_task.json"), "w") as f:
        json.dump(results, f, indent=1)
    fig, ax = plt.subplots(figsize=(7, 4))
    for kind in ("ntm", "lstm"):
        steps, losses = zip(*results[kind]["curve"])
        ax.plot(steps, losses, label=f"{kind.upper()} ({results[kind]['parameters']} params)")
    ax.set(xlabel="training step (batch %d)" % args.batch_size, ylabel="bit cross-entropy",
           title="Copy task, lengths 1-20", yscale="log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "copy_task.png"), dpi=100)
    print(f"saved {args.out}/copy_task.json and copy_task.png")


if __name__ == "__main__":
    main()
