"""MultiWOZ 2.1 as Rasa stories, resumable: NTMPolicy and TEDPolicy on a seeded split.

The data (../shared/datasets/multiwoz/README.md): the TED paper's modular MultiWOZ 2.1, 740
training stories of real human-human dialogue (data/train/stories.yml) and its domain.yml. The
paper's 185 test stories are the project's held-out test and are not used here: everything is
scored on a split of the 740 training stories.

Protocol, per run r (the run number is the seed):
- `random.Random(r)` shuffles the story indices; the first --eval-stories (140) are the
  evaluation part, the rest (600) the training part (--train-stories N keeps only the first N of
  the rest, for smoke runs). Both parts are written verbatim, in the file's order, to
  WORK/data/run{r}_train.yml and run{r}_eval.yml (with `_eval{E}` / `_train{N}` in the names
  when those options are not the defaults), so every policy sees the same split for a given run.
- Each policy config (holding only its policy, no Memoization or Rule policy) is trained on the
  training part as `rasa train core --augmentation 0` does (`rasa.model_training.train_core`),
  Rasa's cache off (RASA_MAX_CACHE_SIZE=0), one child process per model, and scored on the
  evaluation part as `rasa test core` does (`rasa.model_testing.test_core`), also in a child.
- Per model: action accuracy (story_report.json `accuracy`, over every action of the evaluation
  stories, action_listen included, as `rasa test core` counts it), weighted F1 (`weighted avg`
  `f1-score`), evaluation stories with every action right (`conversation_accuracy` correct of
  total), train seconds (wall time of `train_core` inside the child), process seconds (the
  child's whole wall time) and peak RSS (the child's `ru_maxrss`, from `os.wait4`).
- TEDPolicy at the paper's settings (max_history 10, 100 epochs, batch_strategy sequence,
  random_seed 2019); NTMPolicy with its defaults.

Resumable like bench/redp_benchmark.py (whose helpers, child processes included, do the work):
WORK/<policy>-<config hash>/run{r}/record.json is written once a model is trained and scored
and is not redone; a model trained but not scored is only scored. The hash is of the options
over the policy's defaults, so overrides and changed defaults never mix with earlier runs. Every
invocation (also --report-only) rebuilds RESULTS/multiwoz.{json,md} from the records of the
configs and split sizes asked for.

  .venv/bin/python bench/multiwoz.py --runs 1 2 3                             # full run (hours)
  .venv/bin/python bench/multiwoz.py --report-only
  .venv/bin/python bench/multiwoz.py --eval-stories 20 --train-stories 40 \\
      --override 'TEDPolicy={"epochs": 1}' --override 'NTMPolicy={"epochs": 1}' \\
      --work-dir /tmp/mwoz_smoke --results /tmp/mwoz_smoke_results            # smoke run
"""
import datetime
import functools
import json
import os
import random
import shlex
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import redp_benchmark as benchmark  # noqa: E402

DATA = benchmark.ROOT.parent / "shared" / "datasets" / "multiwoz"
WORK = benchmark.ROOT / "bench" / "work" / "multiwoz"
RUNS = [1]
EVAL_STORIES = 140
POLICIES = {
    "NTMPolicy": {"name": "rasa_ntm_policy.NTMPolicy"},
    "TEDPolicy": {"name": "TEDPolicy", "max_history": 10, "epochs": 100,
                  "batch_strategy": "sequence", "random_seed": 2019},
}
ASSISTANT = "multiwoz-benchmark"
# the per-run fields of a record that the report keeps, and those it averages
RUN_FIELDS = ("run", "accuracy", "weighted_f1", "stories_correct", "eval_stories",
              "eval_actions", "training_stories", "train_seconds", "process_seconds",
              "peak_rss_mb", "git", "machine", "date", "command")
MEAN_FIELDS = ("accuracy", "weighted_f1", "stories_correct", "train_seconds",
               "process_seconds", "peak_rss_mb")
DIFFERENCE = ("NTMPolicy", "TEDPolicy")  # the report's accuracy difference: first minus second


# ---------------------------------------------------------------- split

def split_indices(n, eval_count, seed, train_count=None):
    """(training indices, evaluation indices) of n stories, each in file order.

    `random.Random(seed)` shuffles range(n); the first eval_count are the evaluation part, the
    rest the training part, of which train_count (all if None) are kept.
    """
    if not 0 < eval_count < n:
        raise ValueError(f"{eval_count} evaluation stories of {n}: leaves nothing to train on")
    order = list(range(n))
    random.Random(seed).shuffle(order)
    train = order[eval_count:]
    return sorted(train[:train_count] if train_count is not None else train), \
        sorted(order[:eval_count])


def training_count(n, eval_count, train_count=None):
    """How many stories the training part has (the rest after evaluation, capped)."""
    rest = n - eval_count
    return rest if train_count is None else min(train_count, rest)


def split_name(run, n, eval_count, train_count=None):
    """The name of a run's split: run{r}, with _eval{E} and _train{N} where those are not the
    defaults (140 evaluation stories, all the rest to train on)."""
    name = f"run{run}"
    if eval_count != EVAL_STORIES:
        name += f"_eval{eval_count}"
    if training_count(n, eval_count, train_count) < n - eval_count:
        name += f"_train{train_count}"
    return name


def write_split(data_dir, work_dir, run, eval_count, train_count=None):
    """Writes run's training and evaluation parts to WORK/data/<split>_{train,eval}.yml;
    returns the split's name and, per part, its path, story count and sha1."""
    blocks = benchmark.training_stories(Path(data_dir) / "data" / "train")
    name = split_name(run, len(blocks), eval_count, train_count)
    parts = {"name": name}
    for part, indices in zip(("train", "eval"),
                             split_indices(len(blocks), eval_count, run, train_count)):
        path = Path(work_dir) / "data" / f"{name}_{part}.yml"
        sha1 = benchmark.write_stories([blocks[i] for i in indices], path)
        parts[part] = {"path": path, "count": len(indices), "sha1": sha1}
    return parts


# ---------------------------------------------------------------- scoring

def read_metrics(test_dir):
    """A model's scores from `rasa test core`'s story_report.json (and failed_test_stories.yml,
    which must agree with its conversation_accuracy)."""
    report = benchmark.read_json(Path(test_dir) / "story_report.json")
    if not report or "accuracy" not in report or "weighted avg" not in report:
        raise RuntimeError(f"no accuracy or weighted avg in {test_dir}/story_report.json")
    correct, total, failed = benchmark.read_score(test_dir)
    return {"accuracy": float(report["accuracy"]),
            "weighted_f1": float(report["weighted avg"]["f1-score"]),
            "eval_actions": int(report["weighted avg"]["support"]),
            "stories_correct": correct, "eval_stories": total, "failed_stories": failed}


def do_run(name, config, run, eval_count, train_count, work_dir, data_dir, command=None):
    """Trains (unless trained) and scores one (policy config, run); writes its record."""
    data_dir = Path(data_dir)
    n = len(benchmark.training_stories(data_dir / "data" / "train"))
    cell = (Path(work_dir) / benchmark.config_key(name, config)
            / split_name(run, n, eval_count, train_count))
    state = benchmark.todo_state(cell)
    if state == "done":
        return "done"
    config_path = benchmark.write_config(cell, name, config, ASSISTANT)
    split = write_split(data_dir, work_dir, run, eval_count, train_count)
    train = benchmark.trained_model(cell, state, config_path, split["train"]["path"],
                                    split["train"]["count"], data_dir)
    benchmark.run_test_core(cell, split["eval"]["path"])
    metrics = read_metrics(cell / "test")
    # Rasa's test reader merges stories with identical steps into one test conversation (two
    # of the 140 of run 1), so eval_stories (scored) can be below the number written
    benchmark.write_json(cell / "record.json", {
        "policy": name, "run": run, "config": config, **metrics,
        "eval_stories_written": split["eval"]["count"],
        "training_stories": split["train"]["count"], "split_seed": run,
        "train_sha1": split["train"]["sha1"], "eval_sha1": split["eval"]["sha1"],
        **benchmark.model_costs(train), **benchmark.provenance(), "command": command})
    return state


# ---------------------------------------------------------------- report

def accuracy_difference(policies, first=DIFFERENCE[0], second=DIFFERENCE[1]):
    """first's action accuracy minus second's on the runs both have, or None if none."""
    if first not in policies or second not in policies:
        return None
    accuracy = {name: {r["run"]: r["accuracy"] for r in policies[name]["runs"]}
                for name in (first, second)}
    runs = sorted(set(accuracy[first]) & set(accuracy[second]))
    if not runs:
        return None
    per_run = [accuracy[first][r] - accuracy[second][r] for r in runs]
    return {"of": f"{first} - {second}", "runs": runs, "per_run": per_run,
            "mean": benchmark.mean(per_run)}


def aggregate(records, configs, eval_count, train_count, command=None):
    """The benchmark JSON from the records of the configs asked for and of this split's sizes
    (eval_count evaluation stories, train_count training stories); runs in order, missing runs
    left out, so each policy says which runs it has.

    configs: {policy name: its config entry}.
    """
    policies = {}
    for name, config in configs.items():
        key = benchmark.config_key(name, config)
        mine = sorted((r for r in records if r["policy"] == name and r["key"] == key
                       and r.get("eval_stories_written", r["eval_stories"]) == eval_count
                       and r["training_stories"] == train_count), key=lambda r: r["run"])
        runs = [{field: r.get(field) for field in RUN_FIELDS} for r in mine]
        policies[name] = {"config": config, "key": key, "runs": runs,
                          "mean": {field: benchmark.mean([r[field] for r in runs])
                                   for field in MEAN_FIELDS}}
    runs = [r for p in policies.values() for r in p["runs"]]

    def distinct(field):
        return sorted({r[field] for r in runs if r.get(field)})

    return {"dataset": "multiwoz", "eval_stories": eval_count, "training_stories": train_count,
            "machine": "; ".join(distinct("machine")) or benchmark.machine(),
            "git": distinct("git"), "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "commands": distinct("command"), "report_command": command, "policies": policies,
            "difference": accuracy_difference(policies)}


def signed(values, digits=3):
    """Signed numbers, comma-separated."""
    return ", ".join(f"{v:+.{digits}f}" for v in values)


def render_markdown(report):
    """The results as markdown: one row a policy, then the NTM - TED difference, provenance."""
    n_eval = report["eval_stories"]
    lines = ["# MultiWOZ 2.1 benchmark (seeded split of the training stories)", "",
             f"Run r: the training stories shuffled by `random.Random(r)`, {n_eval} scored by "
             f"`rasa test core`, {report['training_stories']} trained on (augmentation 0); "
             "not the held-out test set. Mean over runs (the runs; n runs); action accuracy "
             "counts every action, action_listen included.", "",
             "| policy | runs | action accuracy | weighted F1 | stories right "
             f"(of {n_eval}) | train s | process s | peak RSS MB |",
             "| --- " * 8 + "|"]
    for name, result in report["policies"].items():
        runs = result["runs"]

        def values(field):
            return [r[field] for r in runs]

        lines.append(" | ".join([
            f"| {name}", ", ".join(str(r) for r in values("run")) or "–",
            benchmark.correct_cell(values("accuracy"), digits=3),
            benchmark.number_cell(values("weighted_f1"), digits=3),
            benchmark.correct_cell(values("stories_correct")),
            benchmark.number_cell(values("train_seconds")),
            benchmark.number_cell(values("process_seconds")),
            benchmark.number_cell(values("peak_rss_mb"))]) + " |")
    difference = report["difference"]
    lines.append("")
    if difference:
        lines.append(f"{difference['of'].replace(' - ', ' − ')} action accuracy on the same runs "
                     f"({', '.join(map(str, difference['runs']))}): "
                     f"{difference['mean']:+.3f} ({signed(difference['per_run'])}).")
    else:
        lines.append(f"{' − '.join(DIFFERENCE)} action accuracy: no run of both.")
    lines += ["", f"Machine: {report['machine']}",
              f"Git commit of the runs: {', '.join(report['git']) or '–'}",
              f"Report date: {report['date']}", "", "Configs:", ""]
    lines += [f"- {name} ({r['key']}): `{json.dumps(r['config'])}`"
              for name, r in report["policies"].items()]
    lines += ["", "Commands:", ""]
    lines += [f"- `{c}`" for c in report["commands"]]
    if report.get("report_command") and report["report_command"] not in report["commands"]:
        lines.append(f"- report: `{report['report_command']}`")
    return "\n".join(lines) + "\n"


def write_report(work_dir, results_dir, configs, eval_count, train_count, command=None):
    """Rebuilds multiwoz.{json,md} in results_dir from every record under work_dir."""
    report = aggregate(benchmark.load_records(work_dir), configs, eval_count, train_count,
                       command)
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    benchmark.write_json(results_dir / "multiwoz.json", report)
    (results_dir / "multiwoz.md").write_text(render_markdown(report))
    return report


# ---------------------------------------------------------------- main

def parse_args(argv=None):
    """The command line."""
    parser = benchmark.benchmark_parser(__doc__, POLICIES, RUNS, WORK, DATA)
    parser.add_argument("--eval-stories", type=int, default=EVAL_STORIES,
                        help="stories of each run's evaluation part")
    parser.add_argument("--train-stories", type=int, default=None,
                        help="train on only this many of the rest (smoke runs); default all")
    args = parser.parse_args(argv)
    if min(args.runs) < 1:
        parser.error("runs are numbered from 1")
    if args.eval_stories < 1 or (args.train_stories is not None and args.train_stories < 1):
        parser.error("--eval-stories and --train-stories want at least 1")
    return args


def main(argv=None):
    """Does the runs asked for that are not done yet, then the report."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    command = shlex.join(["python", "bench/multiwoz.py", *argv])
    overrides = benchmark.parse_overrides(args.override, POLICIES)
    configs = {name: benchmark.policy_config(name, overrides, POLICIES) for name in POLICIES}
    n = len(benchmark.training_stories(args.data / "data" / "train"))
    if args.eval_stories >= n:
        raise SystemExit(f"--eval-stories {args.eval_stories}: there are only {n} stories")
    train_count = training_count(n, args.eval_stories, args.train_stories)
    failures = 0
    if not args.report_only:
        for run in args.runs:
            for name in args.policies:
                failures += not benchmark.do_and_say(
                    f"{name} run {run}",
                    functools.partial(do_run, name, configs[name], run, args.eval_stories,
                                      args.train_stories, args.work_dir, args.data, command))
    write_report(args.work_dir, args.results, configs, args.eval_stories, train_count, command)
    print((args.results / "multiwoz.md").read_text())
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
