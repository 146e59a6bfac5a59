"""The REDP / TED few-shot dialogue benchmark, resumable: NTMPolicy, REDPPolicy and TEDPolicy.

The papers' protocol (../shared/datasets/redp/README.md): for each policy config, train with 0, 25,
50 and 75 % of the training stories (data/train/, 148 stories) left out, augmentation 0, runs 1-3,
and count the test stories (data/test/, 32) in which every action is predicted right. That is
`rasa train core -c A.yml B.yml --percentages 0 25 50 75 --runs 3 --augmentation 0` followed by
`rasa test core --evaluate-model-directory`; this script calls the same Rasa functions
(`rasa.model_training.train_core`, `rasa.model_testing.test_core`), one subprocess per model, so
that each model's train seconds and peak RSS can be measured. Each config holds only its policy
(no Memoization or Rule policy), as in the papers.

Differences from Rasa's compare mode, on purpose:
- Rasa drops `round(p / 100 * n)` stories after an *unseeded* `random.shuffle` of all story steps,
  so each policy would see a different subset. Here the same algorithm runs on a
  `random.Random(run)` (the run number is the seed; p = 0 keeps everything, unshuffled, as in
  Rasa), the kept stories are written verbatim to WORK/data/p{p}_run{run}.yml, and that file is
  trained on: every policy sees the same subset for a given (percentage, run), and the subsets of
  one run are nested (75 % excluded is a subset of 50 % excluded, ...).
- Rasa's training cache is switched off (RASA_MAX_CACHE_SIZE=0): with it, runs 2 and 3 of the
  same config and percentage could be served from the cache of run 1.

Train seconds are the wall-clock time of `train_core` inside the child (loading the data,
featurising, training, packing the model; not the ~10 s of importing TensorFlow and Rasa);
the child's whole wall time is kept in the record as `process_seconds`. Peak RSS is the child's
`ru_maxrss` from `os.wait4`.

Resumable: WORK/<policy>-<config hash>/p{p}_run{run}/record.json is written once a model is trained
and scored and is not redone; a model trained but not scored is only scored. The hash is of the
options a model trains with (the config over NTMPolicy's or REDPPolicy's defaults), so overridden
configs and changed defaults get another hash and never mix with earlier runs. Every invocation
(also --report-only) then rebuilds RESULTS/redp_benchmark.{json,md,png} from the records of the
configs asked for.

  .venv/bin/python bench/redp_benchmark.py                                   # everything (days)
  .venv/bin/python bench/redp_benchmark.py --policies TEDPolicy --percentages 0 --runs 1
  .venv/bin/python bench/redp_benchmark.py --report-only
  .venv/bin/python bench/redp_benchmark.py --policies NTMPolicy TEDPolicy --percentages 0 75 \\
      --runs 1 --override NTMPolicy='{"epochs": 2}' --override TEDPolicy='{"epochs": 2}' \\
      --work-dir /tmp/redp_smoke --results /tmp/redp_smoke_results          # smoke test
"""
import argparse
import datetime
import functools
import hashlib
import json
import os
import platform
import random
import re
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("LOG_LEVEL", "WARNING")

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "redp"
WORK = ROOT / "bench" / "work" / "redp"
RESULTS = ROOT / "bench" / "results"
PERCENTAGES = [0, 25, 50, 75]
RUNS = [1, 2, 3]
TEST_STORIES = 32
POLICIES = {
    "NTMPolicy": {"name": "rasa_ntm_policy.NTMPolicy"},
    "REDPPolicy": {"name": "rasa_ntm_policy.REDPPolicy", "epochs": 2000, "attn_shift_range": 5},
    "TEDPolicy": {"name": "TEDPolicy", "max_history": 38, "epochs": 500, "batch_size": [32, 64],
                  "batch_strategy": "balanced"},
}
# correct test stories of 32 per run, at 0, 25, 50, 75 % excluded (dataset README)
PUBLISHED = {
    "REDP": [[32, 31, 28, 18], [32, 30, 24, 27], [32, 28, 28, 27]],
    "TED": [[28, 29, 26, 13], [31, 29, 25, 22], [31, 32, 25, 11]],
}
CHILD_ENV = {"RASA_TELEMETRY_ENABLED": "false", "LOG_LEVEL": "WARNING",
             "RASA_MAX_CACHE_SIZE": "0", "TF_CPP_MIN_LOG_LEVEL": "2"}
# bench/original_redp.py's results (the original REDP on the same subsets), when they exist
REFERENCE_FILE = "original_redp.json"
REFERENCE_NAME = "REDP original (rasa_core 0.14.5, here)"
# a policy and its published counterpart share a colour
COLORS = {"NTMPolicy": "C0", "REDPPolicy": "C2", "TEDPolicy": "C3", "REDP": "C2", "TED": "C3",
          REFERENCE_NAME: "C2"}
STORY_START = re.compile(r"^- story:", re.MULTILINE)


# ---------------------------------------------------------------- configs

def policy_config(name, overrides=None, policies=POLICIES):
    """The policy's entry of the `policies:` list, with the command line's overrides applied
    (policies: the benchmark's {name: default entry}, this one's by default)."""
    return {**policies[name], **((overrides or {}).get(name) or {})}


def resolved_options(name, config):
    """The options a config trains with: its entry over the policy's defaults (NTMPolicy,
    REDPPolicy), so a change of a default is a new config; TED's entry as it is."""
    if name == "NTMPolicy":
        from rasa_ntm_policy.config import DEFAULTS
    elif name == "REDPPolicy":
        from rasa_ntm_policy.redp.config import DEFAULTS
    else:
        return config
    return {**DEFAULTS, **config}


def config_key(name, config):
    """Work-dir name of a config: the policy name and a hash of the options it trains with."""
    options = resolved_options(name, config)
    digest = hashlib.sha1(json.dumps(options, sort_keys=True).encode()).hexdigest()[:8]
    return f"{name}-{digest}"


def config_yaml(name, config, benchmark="redp-benchmark"):
    """A Rasa config file holding only this policy (assistant id: the benchmark and policy)."""
    import yaml

    content = {"recipe": "default.v1", "language": "en",
               "assistant_id": f"{benchmark}-{name.lower()}", "policies": [config]}
    return yaml.safe_dump(content, sort_keys=False)


def parse_overrides(items, policies=POLICIES):
    """`NAME=JSON` strings from --override into {name: {option: value}}, NAME in policies."""
    overrides = {}
    for item in items or []:
        name, _, text = item.partition("=")
        if name not in policies or not text:
            raise SystemExit(f"--override wants POLICY='{{json}}' with POLICY in {list(policies)}")
        overrides[name] = {**overrides.get(name, {}), **json.loads(text)}
    return overrides


# ---------------------------------------------------------------- story exclusion

def split_stories(text):
    """A story YAML file's text as (header, [one text block per `- story:` entry])."""
    starts = [m.start() for m in STORY_START.finditer(text)]
    if not starts:
        return text, []
    ends = starts[1:] + [len(text)]
    return text[:starts[0]], [text[s:e].rstrip("\n") + "\n" for s, e in zip(starts, ends)]


def training_stories(train_dir):
    """Every training story's text block, files in sorted order, stories in file order."""
    blocks = []
    for path in sorted(Path(train_dir).glob("*.yml")):
        blocks += split_stories(path.read_text())[1]
    return blocks


def kept_indices(n, percentage, seed):
    """Rasa's exclusion (`loading.load_data_from_files`) on a seeded generator.

    Rasa shuffles the story steps with the global `random` (unseeded) and drops the last
    `round(percentage / 100 * n)`; at 0 % it neither shuffles nor drops.
    """
    order = list(range(n))
    if not percentage:
        return order
    random.Random(seed).shuffle(order)
    return order[:n - int(round(percentage / 100.0 * n))]


def kept_count(n, percentage):
    """How many of n stories Rasa keeps at this exclusion percentage."""
    return n - int(round(percentage / 100.0 * n)) if percentage else n


def write_subset(train_dir, percentage, run, path):
    """Writes the stories kept for (percentage, run) to path; returns (count, sha1 of the file)."""
    blocks = training_stories(train_dir)
    kept = [blocks[i] for i in kept_indices(len(blocks), percentage, seed=run)]
    return len(kept), write_stories(kept, path)


def write_stories(blocks, path):
    """Writes story text blocks to path as a story file (unless it holds them already); returns
    the sha1 of the file."""
    text = 'version: "3.1"\nstories:\n' + "".join(blocks)
    path = Path(path)
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return hashlib.sha1(text.encode()).hexdigest()


# ---------------------------------------------------------------- records

def cell_dir(work_dir, name, config, percentage, run):
    """The work folder of one (policy config, percentage, run)."""
    return Path(work_dir) / config_key(name, config) / f"p{percentage}_run{run}"


def read_json(path):
    """A JSON file's content, or None if it is not there."""
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else None


def write_json(path, content):
    """Writes content as indented JSON, atomically (so a killed run leaves no half record)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(content, indent=1) + "\n")
    tmp.replace(path)


def load_records(work_dir):
    """Every record.json under work_dir."""
    return [{**json.loads(p.read_text()), "key": p.parent.parent.name}
            for p in sorted(Path(work_dir).glob("*/*/record.json"))]


def todo_state(cell):
    """What a cell still needs: 'done', 'score' (trained, not scored) or 'train'."""
    cell = Path(cell)
    if (cell / "record.json").exists():
        return "done"
    train = read_json(cell / "train.json")
    if train and Path(train["model"]).exists():
        return "score"
    return "train"


# ---------------------------------------------------------------- scoring

def read_score(test_dir):
    """(correct, total, failed story names) from `rasa test core`'s output files.

    story_report.json's `conversation_accuracy` gives correct and total; failed_test_stories.yml
    (one entry per failed story) must agree with them.
    """
    import yaml

    report = read_json(Path(test_dir) / "story_report.json")
    if not report or "conversation_accuracy" not in report:
        raise RuntimeError(f"no conversation_accuracy in {test_dir}/story_report.json")
    correct = int(report["conversation_accuracy"]["correct"])
    total = int(report["conversation_accuracy"]["total"])
    failed_path = Path(test_dir) / "failed_test_stories.yml"
    failed = (yaml.safe_load(failed_path.read_text()) or {}).get("stories", []) \
        if failed_path.exists() else []
    names = [story.get("story") for story in failed]
    if failed_path.exists() and total - len(names) != correct:
        raise RuntimeError(f"{test_dir}: {correct} correct of {total}, but {len(names)} failed")
    return correct, total, names


# ---------------------------------------------------------------- children

def run_child(job, cwd, log_path):
    """Runs a job in a fresh Python process; returns (exit code, wall seconds, peak RSS MB)."""
    cwd = Path(cwd)
    job_path = cwd / f"{job['kind']}_job.json"
    write_json(job_path, job)
    env = {**os.environ, **CHILD_ENV,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    with open(log_path, "w") as log:
        start = time.monotonic()
        proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "_child",
                                 str(job_path)], cwd=cwd, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, seconds, usage.ru_maxrss / 1024.0  # Linux: ru_maxrss in KiB


def child_train(job):
    """In the child: Rasa's core training (what `rasa train core` calls), timed."""
    import rasa.model_training
    from rasa.shared.importers.importer import TrainingDataImporter

    extra = {"augmentation_factor": 0}
    importer = TrainingDataImporter.load_core_importer_from_config(
        job["config"], job["domain"], [job["stories"]], extra)
    stories = len(importer.get_stories().story_steps)
    start = time.perf_counter()
    model = rasa.model_training.train_core(
        domain=job["domain"], config=job["config"], stories=job["stories"], output=job["out"],
        fixed_model_name=job["name"], additional_arguments=extra)
    seconds = time.perf_counter() - start
    if not model:
        raise SystemExit("train_core returned no model")
    write_json(job["result"], {"model": str(Path(model).resolve()), "train_seconds": seconds,
                               "training_stories": stories, "defaults": policy_defaults(job)})


def policy_defaults(job):
    """The policy class's default options (so a record says what 'our defaults' were)."""
    try:
        import yaml
        from rasa.engine.recipes.default_recipe import DefaultV1Recipe

        name = yaml.safe_load(Path(job["config"]).read_text())["policies"][0]["name"]
        defaults = DefaultV1Recipe._from_registry(name).clazz.get_default_config()
        return json.loads(json.dumps(defaults, default=str))
    except Exception as error:  # informational only
        return {"error": repr(error)}


def child_test(job):
    """In the child: `rasa test core` on one model (story_report.json, failed_test_stories.yml)."""
    import asyncio

    from rasa.model_testing import test_core

    asyncio.run(test_core(model=job["model"], stories=job["stories"], output=job["out"],
                          additional_arguments={"disable_plotting": True, "successes": False,
                                                "errors": True, "warnings": False}))


def child_main(job_path):
    """Entry point of `redp_benchmark.py _child JOB.json`."""
    job = json.loads(Path(job_path).read_text())
    {"train": child_train, "test": child_test}[job["kind"]](job)


# ---------------------------------------------------------------- one cell

def git_state():
    """The project's commit, with '+dirty' if rasa_ntm_policy/ has uncommitted changes."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout

    commit = git("rev-parse", "--short", "HEAD").strip()
    return commit + ("+dirty" if git("status", "--porcelain", "rasa_ntm_policy").strip() else "")


def machine():
    """CPU model and core count of this machine."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def log_tail(path, lines=15):
    """The last lines of a child's log."""
    return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])


def train_cell(cell, config_path, subset, data_dir):
    """Trains one model in a child; writes train.json (with the parent's measures) or raises."""
    job = {"kind": "train", "config": str(config_path), "domain": str(data_dir / "domain.yml"),
           "stories": str(subset), "out": str(cell), "name": "model",
           "result": str(cell / "train_child.json")}
    rc, seconds, rss = run_child(job, cell, cell / "train.log")
    result = read_json(cell / "train_child.json")
    if rc or not result:
        raise RuntimeError(f"training failed (exit {rc}), {cell / 'train.log'}:\n"
                           + log_tail(cell / "train.log"))
    write_json(cell / "train.json", {**result, "process_seconds": seconds, "peak_rss_mb": rss})


def run_test_core(cell, stories):
    """Tests the cell's model on stories in a child (`rasa test core`, output in cell/test)."""
    model = read_json(cell / "train.json")["model"]
    job = {"kind": "test", "model": model, "stories": str(stories), "out": str(cell / "test")}
    rc, _, _ = run_child(job, cell, cell / "test.log")
    if rc:
        raise RuntimeError(f"testing failed (exit {rc}):\n" + log_tail(cell / "test.log"))


def score_cell(cell, data_dir):
    """Tests the cell's model in a child; returns (correct, total, failed story names)."""
    run_test_core(cell, data_dir / "data" / "test")
    return read_score(cell / "test")


def write_config(cell, name, config, benchmark="redp-benchmark"):
    """Makes the cell's folder and writes the config (shared by the config's cells, in the
    folder above); returns its path."""
    cell.mkdir(parents=True, exist_ok=True)
    config_path = cell.parent / "config.yml"
    config_path.write_text(config_yaml(name, config, benchmark))
    return config_path


def trained_model(cell, state, config_path, stories, count, data_dir):
    """The cell's train.json, training its model first if its state is 'train'; raises unless
    Rasa read the `count` stories written to the stories file."""
    if state == "train":
        train_cell(cell, config_path, stories, data_dir)
    train = read_json(cell / "train.json")
    if train["training_stories"] != count:
        raise RuntimeError(f"Rasa read {train['training_stories']} stories from {stories}, "
                           f"{count} were written")
    return train


def model_costs(train):
    """A record's fields on training a model, from its train.json."""
    return {"train_seconds": round(train["train_seconds"], 1),
            "process_seconds": round(train["process_seconds"], 1),
            "peak_rss_mb": round(train["peak_rss_mb"], 1), "policy_defaults": train["defaults"]}


def provenance():
    """A record's fields on where and when it was made."""
    return {"git": git_state(), "machine": machine(),
            "date": datetime.datetime.now().isoformat(timespec="seconds")}


def do_cell(name, config, percentage, run, work_dir, data_dir):
    """Trains (unless trained) and scores one (policy, percentage, run); writes its record."""
    cell = cell_dir(work_dir, name, config, percentage, run)
    state = todo_state(cell)
    if state == "done":
        return "done"
    config_path = write_config(cell, name, config)
    subset = Path(work_dir) / "data" / f"p{percentage}_run{run}.yml"
    kept, subset_sha1 = write_subset(data_dir / "data" / "train", percentage, run, subset)
    train = trained_model(cell, state, config_path, subset, kept, data_dir)
    correct, total, failed = score_cell(cell, data_dir)
    write_json(cell / "record.json", {
        "policy": name, "percentage": percentage, "run": run, "config": config,
        "correct": correct, "test_stories": total, "failed_stories": failed,
        "training_stories": kept, "exclusion_seed": run, "subset_sha1": subset_sha1,
        **model_costs(train), **provenance()})
    return state


def do_and_say(label, do):
    """Runs do() (one cell's work, returning the cell's todo_state before it) and says how it
    went, or that it failed (a RuntimeError); returns whether it did not fail."""
    start = time.monotonic()
    try:
        state = do()
    except RuntimeError as error:
        print(f"{label}: FAILED {error}", flush=True)
        return False
    print(f"{label}: " + ("already done" if state == "done" else
                          f"{'trained and scored' if state == 'train' else 'scored'} "
                          f"in {time.monotonic() - start:.0f} s"), flush=True)
    return True


# ---------------------------------------------------------------- report

def run_grids(records, fields, percentages=PERCENTAGES, runs=len(RUNS)):
    """{field: [[value per percentage] per run]} from records, null where missing; at least
    `runs` rows, more if a record has a higher run."""
    n_runs = max([runs] + [r["run"] for r in records])
    grids = {field: [[None] * len(percentages) for _ in range(n_runs)] for field in fields}
    for r in records:
        for field, grid in grids.items():
            grid[r["run"] - 1][percentages.index(r["percentage"])] = r[field]
    return grids


def aggregate(records, configs, n_train, percentages=PERCENTAGES, runs=len(RUNS)):
    """The benchmark JSON from the records whose config is the one asked for, null where missing.

    configs: {policy name: its config entry}; n_train: the number of training stories.
    """
    policies = {}
    for name, config in configs.items():
        key = config_key(name, config)
        mine = [r for r in records if r["policy"] == name and r["percentage"] in percentages
                and (r["key"] if "key" in r else config_key(name, r["config"])) == key]
        grids = run_grids(mine, ("correct", "train_seconds", "peak_rss_mb"), percentages, runs)
        policies[name] = {"runs": grids["correct"], "train_seconds": grids["train_seconds"],
                          "peak_rss_mb": grids["peak_rss_mb"], "config": config}
    counts = {r["percentage"]: r["training_stories"] for r in records}
    machines = sorted({r["machine"] for r in records if r.get("machine")})
    return {"dataset": "redp", "test_stories": TEST_STORIES, "percentages": list(percentages),
            "training_stories": [counts.get(p, kept_count(n_train, p)) for p in percentages],
            "machine": "; ".join(machines) or machine(), "policies": policies}


def carry_over(report, previous):
    """The report with each policy that has no record here taken from the previous report, if
    that one measured it with the same config and percentages (records of a long run, such as
    TEDPolicy's, need not be kept to rebuild the report); marked `carried_over`."""
    if not previous or previous.get("percentages") != report["percentages"]:
        return report
    policies = dict(report["policies"])
    for name, result in policies.items():
        earlier = previous.get("policies", {}).get(name)
        measured_here = any(v is not None for row in result["runs"] for v in row)
        if earlier and not measured_here and earlier.get("config") == result["config"]:
            policies[name] = {**earlier, "carried_over": True}
    machine = report["machine"]
    if any(r.get("carried_over") for r in policies.values()) and previous.get("machine"):
        machine = f"{machine}; earlier runs: {previous['machine']}"
    return {**report, "policies": policies, "machine": machine}


def column(grid, j):
    """The non-null values of column j of a runs x percentages grid."""
    return [row[j] for row in grid if row[j] is not None]


def mean(values):
    """Arithmetic mean, None for no values."""
    return sum(values) / len(values) if values else None


def correct_cell(values, digits=None):
    """A table cell: mean correct with the per-run values and the number of runs (the mean to
    1 digit and the values as they are, or both to `digits` digits)."""
    if not values:
        return "–"
    shown = ", ".join(str(v) if digits is None else f"{v:.{digits}f}" for v in values)
    return f"{mean(values):.{1 if digits is None else digits}f} ({shown}; n={len(values)})"


def number_cell(values, digits=0):
    """A table cell: the mean of values, '–' if none."""
    return f"{mean(values):.{digits}f}" if values else "–"


def render_markdown(report):
    """The results as markdown: correct test stories (with published rows), then costs."""
    percentages, counts = report["percentages"], report["training_stories"]
    head = " | ".join(f"{p} % excluded ({n} stories)" for p, n in zip(percentages, counts))
    rule = "| --- " * (len(percentages) + 1) + "|"
    lines = ["# REDP / TED few-shot benchmark", "",
             f"Test stories with every action right, of {report['test_stories']}: mean over runs "
             "(the runs; n runs). Exclusion of run r is seeded by r, the same for every policy.",
             "", f"| policy | {head} |", rule]
    for name, result in [*report["policies"].items(), *report.get("reference", {}).items()]:
        cells = [correct_cell(column(result["runs"], j)) for j in range(len(percentages))]
        shown = f"{name} (earlier run)" if result.get("carried_over") else name
        lines.append(f"| {shown} | " + " | ".join(cells) + " |")
    for name, runs in PUBLISHED.items():
        cells = [correct_cell(column(runs, PERCENTAGES.index(p))) if p in PERCENTAGES else "–"
                 for p in percentages]
        lines.append(f"| {name} (published) | " + " | ".join(cells) + " |")
    lines += ["", "Mean train seconds / mean peak RSS MB of the training process:", "",
              f"| policy | {head} |", rule]
    for name, result in report["policies"].items():
        cells = [f"{number_cell(column(result['train_seconds'], j))} s / "
                 f"{number_cell(column(result['peak_rss_mb'], j))} MB"
                 if column(result["train_seconds"], j) else "–" for j in range(len(percentages))]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for name, result in report.get("reference", {}).items():
        cells = [f"{number_cell(column(result['train_seconds'], j))} s"
                 if column(result["train_seconds"], j) else "–" for j in range(len(percentages))]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if any(r.get("carried_over") for r in report["policies"].values()):
        lines += ["", "(earlier run): measured by an earlier run of the benchmark with the same "
                  "config, whose records are not in this work directory; kept from its report."]
    lines += ["", f"Machine: {report['machine']}", "", "Configs:", ""]
    lines += [f"- {name}: `{json.dumps(r['config'])}`" for name, r in report["policies"].items()]
    return "\n".join(lines) + "\n"


def plot(report, path):
    """Correct test stories against training stories: our policies solid, published dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = report["training_stories"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, result in report["policies"].items():
        points = [(x, mean(column(result["runs"], j))) for j, x in enumerate(counts)]
        points = [(x, y) for x, y in points if y is not None]
        if not points:
            continue
        color = COLORS.get(name)
        ax.plot(*zip(*points), "o-", color=color, label=name)
        for j, x in enumerate(counts):
            values = column(result["runs"], j)
            ax.plot([x] * len(values), values, "o", color=color, alpha=0.25, ms=4)
    for name, result in report.get("reference", {}).items():
        points = [(x, mean(column(result["runs"], j))) for j, x in enumerate(counts)]
        points = [(x, y) for x, y in points if y is not None]
        if points:
            ax.plot(*zip(*points), "s:", color=COLORS.get(name), label=name)
    for name, runs in PUBLISHED.items():
        points = [(x, mean(column(runs, PERCENTAGES.index(p))))
                  for x, p in zip(counts, report["percentages"]) if p in PERCENTAGES]
        ax.plot(*zip(*points), "--", lw=1.2, color=COLORS.get(name), label=f"{name} (published)")
    ax.set(xlabel="training stories", ylabel=f"correct test stories (of {report['test_stories']})",
           ylim=(-0.5, report["test_stories"] + 0.5), xticks=sorted(counts),
           title="REDP / TED few-shot benchmark")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(work_dir, results_dir, configs, data_dir):
    """Rebuilds redp_benchmark.{json,md,png} in results_dir from every record under work_dir,
    with bench/original_redp.py's results from results_dir as a reference where they exist."""
    n_train = len(training_stories(data_dir / "data" / "train"))
    report = aggregate(load_records(work_dir), configs, n_train)
    results_dir = Path(results_dir)
    report = carry_over(report, read_json(results_dir / "redp_benchmark.json"))
    reference = read_json(results_dir / REFERENCE_FILE)
    if reference and reference.get("percentages") == report["percentages"]:
        report["reference"] = {REFERENCE_NAME: {"runs": reference["runs"],
                                                "train_seconds": reference["train_seconds"],
                                                "config": reference["config"]}}
    results_dir.mkdir(parents=True, exist_ok=True)
    write_json(results_dir / "redp_benchmark.json", report)
    (results_dir / "redp_benchmark.md").write_text(render_markdown(report))
    plot(report, results_dir / "redp_benchmark.png")
    return report


# ---------------------------------------------------------------- main

def benchmark_parser(doc, policies=POLICIES, runs=RUNS, work_dir=WORK, data=DATA):
    """A benchmark's command line parser with the options they share (--policies, --runs,
    --override, --work-dir, --results, --data, --report-only); doc: its module docstring."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policies", nargs="+", choices=list(policies), default=list(policies))
    parser.add_argument("--runs", nargs="+", type=int, default=runs)
    parser.add_argument("--override", action="append", metavar="POLICY=JSON",
                        help="policy options to change, e.g. TEDPolicy='{\"epochs\": 3}'")
    parser.add_argument("--work-dir", type=Path, default=work_dir)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--data", type=Path, default=data)
    parser.add_argument("--report-only", action="store_true", help="train nothing, only report")
    return parser


def parse_args(argv=None):
    """The command line."""
    parser = benchmark_parser(__doc__)
    parser.add_argument("--percentages", nargs="+", type=int, choices=PERCENTAGES,
                        default=PERCENTAGES)
    args = parser.parse_args(argv)
    if min(args.runs) < 1:
        parser.error("runs are numbered from 1")
    return args


def main(argv=None):
    """Does the cells asked for that are not done yet (in Rasa's order), then the report."""
    args = parse_args(argv)
    overrides = parse_overrides(args.override)
    configs = {name: policy_config(name, overrides) for name in POLICIES}
    failures = 0
    if not args.report_only:
        for run in args.runs:
            for percentage in args.percentages:
                for name in args.policies:
                    failures += not do_and_say(
                        f"{name} {percentage}% run {run}",
                        functools.partial(do_cell, name, configs[name], percentage, run,
                                          args.work_dir, args.data))
    write_report(args.work_dir, args.results, configs, args.data)
    print((args.results / "redp_benchmark.md").read_text())
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "_child":
        child_main(sys.argv[2])
    else:
        sys.exit(main())
