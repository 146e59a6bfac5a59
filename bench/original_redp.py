"""The original REDP (rasa_core 0.14.5's EmbeddingPolicy) on the few-shot benchmark's subsets.

A reference for REDPPolicy, this repository's port: the same training stories as run r of
bench/redp_benchmark.py at each exclusion percentage (its `kept_indices`), taken verbatim from
the dataset's original Rasa 1 markdown (`original/`), trained and tested by rasa_core itself at the
paper's settings (2000 epochs, attn_shift_range 5, augmentation 0) on Python 3.6. Resumable like
the benchmark: a cell with a record is not redone. bench/redp_benchmark.py adds the results to
its table and plot.

  make original-redp-env      # .venv36: Python 3.6 (pyenv 3.6.15) with rasa_core 0.14.5
  .venv/bin/python bench/original_redp.py --percentages 75 --runs 1 2 3
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import redp_benchmark as benchmark  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PYTHON36 = ROOT / ".venv36" / "bin" / "python"
WORK = ROOT / "bench" / "work" / "original_redp"
RESULTS_FILE = "original_redp.json"
EPOCHS = 2000  # the paper's


def config_text(epochs=EPOCHS):
    """rasa_core's policy config: EmbeddingPolicy at the paper's settings."""
    return f"policies:\n  - name: EmbeddingPolicy\n    epochs: {epochs}\n    attn_shift_range: 5\n"
MD_STORY = re.compile(r"^## ", re.MULTILINE)
CORRECT = re.compile(r"Correct:\s+(\d+)\s*/\s*(\d+)")


# ---------------------------------------------------------------- story selection

def markdown_stories(text):
    """A Rasa 1 markdown story file's stories as text blocks, each from its `## ` line."""
    starts = [m.start() for m in MD_STORY.finditer(text)]
    ends = starts[1:] + [len(text)]
    return [text[s:e].rstrip("\n") + "\n" for s, e in zip(starts, ends)]


def markdown_signature(block):
    """What a markdown story does: ("intent", name, entity names) and ("action", name) in order
    (slot events left out: rasa_core fills slots from entities, the YAML states them)."""
    steps = []
    for line in block.splitlines()[1:]:
        line = line.strip()
        if line.startswith("* "):
            name, _, entities = line[2:].partition("{")
            names = sorted(json.loads("{" + entities)) if entities else []
            steps.append(("intent", name.strip(), tuple(names)))
        elif line.startswith("- ") and not line.startswith("- slot{"):
            steps.append(("action", line[2:].strip()))
    return tuple(steps)


def yaml_signature(story):
    """The same for a story of the converted YAML (a dict with `steps`)."""
    steps = []
    for step in story["steps"]:
        if "intent" in step:
            names = sorted(name for entity in step.get("entities") or [] for name in entity)
            steps.append(("intent", step["intent"], tuple(names)))
        elif "action" in step:
            steps.append(("action", step["action"]))
    return tuple(steps)


def original_subset(yaml_blocks, original_dir):
    """The original markdown of the stories in yaml_blocks (text blocks of `- story:` entries),
    matched by what they do; each original story is used once. Raises if one has no match."""
    import yaml

    pool = defaultdict(list)
    for path in sorted(Path(original_dir).glob("*.md")):
        for block in markdown_stories(path.read_text()):
            pool[markdown_signature(block)].append(block)
    chosen = []
    for block in yaml_blocks:
        story = yaml.safe_load(block)[0]
        matches = pool.get(yaml_signature(story))
        if not matches:
            raise ValueError(f"no original markdown story does what {story['story']!r} does")
        chosen.append(matches.pop(0))
    return "".join(block + "\n" for block in chosen)


# ---------------------------------------------------------------- one cell

def parse_correct(log_text):
    """rasa_core.test's count of whole test stories right: (correct, total) from its log."""
    found = CORRECT.findall(log_text)
    if not found:
        raise ValueError("the test log has no 'Correct: N / M' line")
    correct, total = found[0]
    return int(correct), int(total)


def run_logged(command, log_path, cwd):
    """Runs command with its output in log_path; returns seconds; raises on failure."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONHASHSEED": "0",
           "MPLBACKEND": "Agg"}  # no display here
    start = time.monotonic()
    with open(log_path, "w") as log:
        code = subprocess.call(command, stdout=log, stderr=subprocess.STDOUT, cwd=cwd, env=env)
    if code:
        tail = "".join(Path(log_path).read_text().splitlines(True)[-15:])
        raise RuntimeError(f"{' '.join(map(str, command[:4]))} failed ({code}):\n{tail}")
    return time.monotonic() - start


def do_cell(percentage, run, work_dir, data_dir, python, epochs=EPOCHS):
    """Trains and tests the original on the stories of (percentage, run); returns the record."""
    cell = Path(work_dir) / f"p{percentage}_run{run}"
    record = benchmark.read_json(cell / "record.json")
    if record:
        return record
    cell.mkdir(parents=True, exist_ok=True)
    blocks = benchmark.training_stories(data_dir / "data" / "train")
    kept = [blocks[i] for i in benchmark.kept_indices(len(blocks), percentage, seed=run)]
    (cell / "stories.md").write_text(original_subset(kept, data_dir / "original" / "train"))
    (cell / "config.yml").write_text(config_text(epochs))
    original = data_dir / "original"
    train_seconds = run_logged(
        [str(python), "-m", "rasa_core.train", "-s", "stories.md", "-d",
         str(original / "domain.yml"), "-o", "model", "-c", "config.yml", "--augmentation", "0"],
        cell / "train.log", cell)
    run_logged([str(python), "-m", "rasa_core.test", "default", "--core", "model", "-s",
                str(original / "test"), "-o", "test"], cell / "test.log", cell)
    correct, total = parse_correct((cell / "test.log").read_text())
    record = {"percentage": percentage, "run": run, "correct": correct, "test_stories": total,
              "training_stories": len(kept), "train_seconds": train_seconds,
              "epochs": epochs, "machine": benchmark.machine()}
    benchmark.write_json(cell / "record.json", record)
    return record


def results(work_dir):
    """{"percentages", "runs": [[correct per percentage] per run], "train_seconds"} from the
    records under work_dir at the paper's epochs, null where missing."""
    records = [r for r in (json.loads(p.read_text())
                           for p in sorted(Path(work_dir).glob("*/record.json")))
               if r.get("epochs") == EPOCHS]
    grids = benchmark.run_grids(records, ("correct", "train_seconds"))
    return {"policy": "rasa_core 0.14.5 EmbeddingPolicy (the original REDP), Python 3.6",
            "config": config_text(), "percentages": benchmark.PERCENTAGES, "runs": grids["correct"],
            "train_seconds": grids["train_seconds"],
            "machine": "; ".join(sorted({r["machine"] for r in records})) or benchmark.machine()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--percentages", nargs="+", type=int, choices=benchmark.PERCENTAGES,
                        default=benchmark.PERCENTAGES)
    parser.add_argument("--runs", nargs="+", type=int, default=benchmark.RUNS)
    parser.add_argument("--work-dir", type=Path, default=WORK)
    parser.add_argument("--results", type=Path, default=benchmark.RESULTS)
    parser.add_argument("--data", type=Path, default=benchmark.DATA)
    parser.add_argument("--epochs", type=int, default=EPOCHS,
                        help="for a quick check only: the results hold the paper's 2000 alone")
    parser.add_argument("--python", type=Path, default=PYTHON36,
                        help="a Python 3.6 with rasa_core 0.14.5 (make original-redp-env)")
    args = parser.parse_args(argv)
    if not args.python.exists():
        parser.error(f"{args.python} not found: make original-redp-env makes it")
    failures = 0
    for run in args.runs:
        for percentage in args.percentages:
            try:
                record = do_cell(percentage, run, args.work_dir, args.data, args.python,
                                 args.epochs)
            except (RuntimeError, ValueError) as error:
                failures += 1
                print(f"original REDP {percentage}% run {run}: FAILED {error}", flush=True)
                continue
            print(f"original REDP {percentage}% run {run}: {record['correct']} of "
                  f"{record['test_stories']} in {record['train_seconds']:.0f} s", flush=True)
    args.results.mkdir(parents=True, exist_ok=True)
    benchmark.write_json(args.results / RESULTS_FILE, results(args.work_dir))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
