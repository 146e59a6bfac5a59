"""NTMPolicy trained on one device and on the CPU split into two logical devices
(tf.distribute.MirroredStrategy, rasa_ntm_policy/devices.py), on the REDP benchmark's full
training set (../shared/datasets/redp, all 147 stories), each model scored with `rasa test core`
on its 32 test stories, as bench/redp_benchmark.py does at 0 % excluded.

Each (devices, seed) trains in its own process (`rasa.model_training.train_core`), which splits
the CPU before TensorFlow starts when devices > 1. The seeds give the noise to compare with:
with dropout the two-device training draws other masks, so it is another sample of the same
training, not the same weights (tests/policy/test_devices.py checks those without dropout).

Writes bench/results/devices.json and devices.md.

  .venv/bin/python bench/devices.py                       # devices 1 and 2, seeds 42 and 1
  .venv/bin/python bench/devices.py --devices 2 --seeds 42
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "work" / "devices"
RESULTS = ROOT / "bench" / "results"


def redp_benchmark():
    """bench/redp_benchmark.py as a module."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import redp_benchmark as module

    return module


def split_cpu(count: int) -> None:
    """Splits the CPU into count logical devices (before TensorFlow uses it)."""
    import tensorflow as tf

    if count > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * count)


def train(rb, devices: int, seed: int, work: Path):
    """Trains one model in a child process that splits the CPU; returns the cell and train.json."""
    cell = work / f"d{devices}_s{seed}"
    config = {**rb.POLICIES["NTMPolicy"], "random_seed": seed}
    config_path = cell / "config.yml"
    cell.mkdir(parents=True, exist_ok=True)
    config_path.write_text(rb.config_yaml("NTMPolicy", config, "devices-bench"))
    job = {"kind": "train", "config": str(config_path), "domain": str(rb.DATA / "domain.yml"),
           "stories": str(rb.DATA / "data" / "train"), "out": str(cell), "name": "model",
           "result": str(cell / "train_child.json"), "devices": devices}
    job_path = cell / "train_job.json"
    rb.write_json(job_path, job)
    env = {**os.environ, **rb.CHILD_ENV, "PYTHONPATH": str(ROOT)}
    start = time.monotonic()
    with open(cell / "train.log", "w") as log:
        code = subprocess.call([sys.executable, __file__, "_child", str(job_path)], cwd=cell,
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    result = rb.read_json(cell / "train_child.json")
    if code or not result:
        raise RuntimeError(f"training failed (exit {code}): {rb.log_tail(cell / 'train.log')}")
    result = {**result, "process_seconds": time.monotonic() - start}
    rb.write_json(cell / "train.json", result)
    return cell, result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 1])
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    rb = redp_benchmark()
    rows = []
    for devices in args.devices:
        for seed in args.seeds:
            cell, result = train(rb, devices, seed, args.work)
            correct, total, failed = rb.score_cell(cell, rb.DATA)
            rows.append({"devices": devices, "seed": seed, "correct": correct, "total": total,
                         "failed_stories": failed,
                         "train_seconds": round(result["train_seconds"], 1),
                         "logical_cpus": result["logical_cpus"],
                         "training_stories": result["training_stories"]})
            print(f"devices {devices} seed {seed}: {correct}/{total} test stories, trained in "
                  f"{result['train_seconds']:.0f} s", flush=True)
    command = " ".join([".venv/bin/python bench/devices.py", *(argv or sys.argv[1:])])
    report = {"command": command, "machine": rb.machine(), "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "devices.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = ["# NTMPolicy on one device and on two (REDP benchmark, full training set)", "",
             f"Command: `{command}`, nothing else running. Machine: "
             f"{report['machine']}. Each model: NTMPolicy's defaults "
             "and the seed given, trained on all training stories and scored with `rasa test "
             "core` on the 32 test stories (correct stories). Two devices: the CPU split into "
             "two logical devices, tf.distribute.MirroredStrategy.", "",
             "| devices | seed | correct of 32 | training seconds |", "| --- | --- | --- | --- |"]
    lines += [f"| {r['devices']} | {r['seed']} | {r['correct']} | {r['train_seconds']} |"
              for r in rows]
    (args.out / "devices.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "_child":
        job = json.loads(Path(sys.argv[2]).read_text())
        split_cpu(job["devices"])
        rb = redp_benchmark()
        rb.child_main(sys.argv[2])
        import tensorflow as tf

        result = rb.read_json(job["result"])  # what the training ran on
        rb.write_json(job["result"], {**result, "logical_cpus": len(
            tf.config.list_logical_devices("CPU"))})
    else:
        main()
