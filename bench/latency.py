"""Prediction latency of NTMPolicy, REDPPolicy and TEDPolicy against dialogue length (issue 5).

Each policy's trained model (Rasa 3.6 `.tar.gz`, trained on the REDP benchmark data) is loaded with
`rasa.core.agent.Agent.load` in its own subprocess, and the time of one prediction through Rasa's
whole prediction graph (`MessageProcessor._predict_next_with_tracker`: domain provider, rule-only
data, the policy's `predict_action_probabilities`, ensemble selection) is measured on trackers of
10, 50, 200 and 1000 turns built from the benchmark's domain: p50 and p99 over repeated calls after
warm-up, and the subprocess's peak resident memory.

What a turn is: one `UserUttered` event, the events that follow it up to and including the next
`action_listen` (the slots the user's message sets, the bot's actions). A tracker of N turns is
`action_session_start`, `session_started`, `action_listen`, N - 1 whole turns and the N-th user
message (with the slots it sets) awaiting the bot's reply: it holds exactly N `UserUttered`
events and the prediction timed is that of the bot's first action of turn N, the prediction a
server makes when the N-th message arrives. Each timed call is a new conversation (its own sender
id) whose previous prediction, at the end of turn N - 1, the same process made just before,
untimed: what a server that holds the conversation has seen (NTMPolicy keeps per conversation
the replay of the tracker it has done; rasa_ntm_policy/conversation_cache.py). Two kinds of tracker:
- "stories" (the primary figures, `p50_ms` / `p99_ms`): the turns of the benchmark's test stories
  (data/test/, in file order) one after another, cycling through them again when they run out:
  real hotel dialogue with digressions, entities and slots set;
- "chitchat" (`p50_ms_chitchat` / `p99_ms_chitchat`, the kind of tracker the issue's TED figures
  were measured on): `request_hotel` -> `utter_ask_details`, then `chitchat` -> `utter_chitchat`,
  `utter_ask_details` over and over. NTMPolicy's memory returns to its state before each such
  digression; the JSON records, per length, how many dialogue states each policy featurizes
  (`states`) and, for NTMPolicy, at how many of them the memory is restored (`restored_states`).

Real dialogue: `--data ../shared/datasets/multiwoz --stories ../shared/datasets/multiwoz/data/train
--kinds stories` builds the trackers from MultiWOZ's human-human dialogues (nothing to fold).

Models: `--model NAME=PATH` for any of the policies; otherwise, on the REDP data,
`default_model_path(NAME)`; and when there is none, one is trained here with `rasa train core`
on the full training data, a config with only that policy and `--quick-epochs` epochs (latency
hardly depends on how well trained it is), cached under bench/work/latency/models/. The JSON
records how each model was obtained.

Writes bench/results/latency.json, latency.md (tables) and latency.png (log-log).

  .venv/bin/python bench/latency.py                                   # all four policies
  .venv/bin/python bench/latency.py --policies NTMPolicy TEDPolicy --lengths 10 50
  .venv/bin/python bench/latency.py --model TEDPolicy=bench/work/redp/ted.tar.gz
"""
import argparse
import datetime
import functools
import hashlib
import importlib.util
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "redp"
RESULTS = ROOT / "bench" / "results"
WORK = ROOT / "bench" / "work" / "latency"
ENV = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "LOG_LEVEL": "WARNING",
       "TF_CPP_MIN_LOG_LEVEL": "2"}

LENGTHS = [10, 50, 200, 1000]
KINDS = ["stories", "chitchat"]
PRIMARY_KIND = "stories"

# The policies compared, as in the benchmark (issue 4). `epochs` is replaced by --quick-epochs
# when a model is trained here.
POLICY_CONFIGS: Dict[str, Dict[str, Any]] = {
    "NTMPolicy": {"name": "rasa_ntm_policy.NTMPolicy"},
    "TEDPolicy": {"name": "TEDPolicy", "max_history": 38, "epochs": 500,
                  "batch_size": [32, 64], "batch_strategy": "balanced"},
    "TEDPolicy_unlimited": {"name": "TEDPolicy", "epochs": 500, "batch_size": [32, 64],
                            "batch_strategy": "balanced"},
    # the TED paper's MultiWOZ settings, as bench/multiwoz.py trains it
    "TEDPolicy_max_history_10": {"name": "TEDPolicy", "max_history": 10, "epochs": 100,
                                 "batch_strategy": "sequence", "random_seed": 2019},
    "REDPPolicy": {"name": "rasa_ntm_policy.REDPPolicy", "epochs": 2000, "attn_shift_range": 5},
}
COLOURS = {"NTMPolicy": "tab:blue", "TEDPolicy": "tab:orange",
           "TEDPolicy_unlimited": "tab:red", "TEDPolicy_max_history_10": "tab:purple",
           "REDPPolicy": "tab:green"}


# --- the trackers (pure functions of events; tested in tests/bench/test_latency_bench.py) ---

def split_turns(events: Sequence[Any]) -> List[List[Any]]:
    """A story's events -> its turns: each a `UserUttered` and what follows it up to and including
    the next `action_listen` (added when the story ends without one). Events before the first user
    message (the story's opening `action_listen`) are dropped."""
    from rasa.shared.core.constants import ACTION_LISTEN_NAME
    from rasa.shared.core.events import ActionExecuted, UserUttered

    turns: List[List[Any]] = []
    for event in events:
        if isinstance(event, UserUttered):
            turns.append([event])
        elif turns:
            turns[-1].append(event)
    for turn in turns:
        last = turn[-1]
        if not (isinstance(last, ActionExecuted) and last.action_name == ACTION_LISTEN_NAME):
            turn.append(ActionExecuted(ACTION_LISTEN_NAME))
    return turns


def awaiting_reply(turn: Sequence[Any]) -> List[Any]:
    """The start of a turn before the bot's first action: the user message and what it set."""
    from rasa.shared.core.events import ActionExecuted

    head = []
    for event in turn:
        if isinstance(event, ActionExecuted):
            break
        head.append(event)
    return head


def tracker_events(turns: Sequence[Sequence[Any]], length: int) -> List[Any]:
    """Events of a tracker of exactly `length` turns (see the module docstring) cycling through
    `turns`: a session start, `length - 1` whole turns, the user message of the last one."""
    from rasa.shared.core.constants import ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME
    from rasa.shared.core.events import ActionExecuted, SessionStarted

    if length < 1 or not turns:
        raise ValueError("need at least one turn to build from and length >= 1")
    events: List[Any] = [ActionExecuted(ACTION_SESSION_START_NAME), SessionStarted(),
                         ActionExecuted(ACTION_LISTEN_NAME)]
    for i in range(length - 1):
        events.extend(turns[i % len(turns)])
    events.extend(awaiting_reply(turns[(length - 1) % len(turns)]))
    return events


def previous_prediction(events: Sequence[Any]) -> List[Any]:
    """The events of the same conversation at the prediction a server made just before the
    latest user message: up to the last bot action before it (the action_listen that ended the
    previous turn). [] when there is none."""
    from rasa.shared.core.events import ActionExecuted, UserUttered

    users = [i for i, e in enumerate(events) if isinstance(e, UserUttered)]
    end = users[-1] if users else len(events)
    actions = [i for i in range(end) if isinstance(events[i], ActionExecuted)]
    return list(events[:actions[-1]]) if actions else []


def user_turn(intent: str, *actions: str) -> List[Any]:
    from rasa.shared.core.constants import ACTION_LISTEN_NAME
    from rasa.shared.core.events import ActionExecuted, UserUttered

    return ([UserUttered(intent={"name": intent, "confidence": 1.0})]
            + [ActionExecuted(a) for a in actions] + [ActionExecuted(ACTION_LISTEN_NAME)])


def chitchat_events(length: int) -> List[Any]:
    """A hotel request, then chitchat turns that the bot answers and re-asks its question."""
    start = user_turn("request_hotel", "utter_ask_details")
    chat = user_turn("chitchat", "utter_chitchat", "utter_ask_details")
    return tracker_events([start] + [chat] * (length - 1), length)


def story_turns(domain, story_path: Path) -> List[List[Any]]:
    """The turns of the stories in `story_path`, in file order."""
    from rasa.core.training import load_data

    trackers = load_data(str(story_path), domain, augmentation_factor=0)
    order = {}  # load_data does not keep file order: recover it from the story names' order
    for i, name in enumerate(_story_names(story_path)):
        order.setdefault(name, i)
    trackers = sorted(trackers, key=lambda t: order.get(t.sender_id, len(order)))
    return [turn for tracker in trackers for turn in split_turns(tracker.events)]


def _story_names(story_path: Path) -> List[str]:
    files = sorted(story_path.glob("*.yml")) if story_path.is_dir() else [story_path]
    names = []
    for path in files:
        names += [s["story"] for s in yaml.safe_load(path.read_text()).get("stories", [])]
    return names


def count_turns(events: Sequence[Any]) -> int:
    from rasa.shared.core.events import UserUttered

    return sum(isinstance(e, UserUttered) for e in events)


# --- statistics and results --------------------------------------------------------------------

def percentiles(times_ms: Sequence[float]) -> Dict[str, float]:
    """p50, p99 (numpy's linear interpolation), mean and number of calls of a list of times."""
    values = np.asarray(times_ms, float)
    if values.size == 0:
        return {"p50_ms": None, "p99_ms": None, "mean_ms": None, "calls": 0}
    return {"p50_ms": round(float(np.percentile(values, 50)), 3),
            "p99_ms": round(float(np.percentile(values, 99)), 3),
            "mean_ms": round(float(values.mean()), 3), "calls": int(values.size)}


def aggregate(workers: Dict[str, Dict[str, Any]], lengths: Sequence[int],
              kinds: Sequence[str]) -> Dict[str, Dict[str, Any]]:
    """Worker results {policy: {"cells": {kind: {length: {...}}}, ...}} -> the per-policy entries
    of latency.json: lists over `lengths`, the primary kind without suffix, the others suffixed."""
    policies = {}
    for name, result in workers.items():
        entry: Dict[str, Any] = {}
        if "error" in result:
            policies[name] = {"error": result["error"], "model": result.get("model")}
            continue
        for kind in kinds:
            suffix = "" if kind == PRIMARY_KIND else f"_{kind}"
            cells = [result["cells"][kind][str(n)] for n in lengths]
            for key in ("p50_ms", "p99_ms", "mean_ms", "calls", "first_call_ms", "states",
                        "restored_states", "states_ms", "policy_ms", "policy_ms_from_scratch",
                        "peak_rss_mb_after"):
                values = [cell.get(key) for cell in cells]
                if any(v is not None for v in values):
                    entry[key + suffix] = values
        entry["peak_rss_mb"] = result["peak_rss_mb"]
        entry["rss_after_load_mb"] = result["rss_after_load_mb"]
        entry["load_seconds"] = result["load_seconds"]
        entry["model"] = result["model"]
        policies[name] = entry
    return policies


def check_targets(policies: Dict[str, Dict[str, Any]], lengths: Sequence[int],
                  kind: str) -> Optional[Dict[str, Any]]:
    """The targets on one kind of tracker. Issue 5: NTMPolicy p50 <= TEDPolicy p50 at every
    length (ntm_p50_at_or_below_ted; the same against each other TEDPolicy config measured,
    ntm_p50_at_or_below_NAME), under 15 ms at 200 turns, p50(1000) <= 5.5 x p50(200). Issue 19:
    NTMPolicy's own predict_action_probabilities (policy_ms, on a conversation the process
    holds) at 1000 turns at most 2 x at 10 turns."""
    suffix = "" if kind == PRIMARY_KIND else f"_{kind}"
    ntm = policies.get("NTMPolicy", {}).get("p50_ms" + suffix)
    if not ntm:
        return None
    targets: Dict[str, Any] = {}
    for name in POLICY_CONFIGS:
        ted = policies.get(name, {}).get("p50_ms" + suffix)
        if ted and POLICY_CONFIGS[name]["name"] == "TEDPolicy":
            key = "ted" if name == "TEDPolicy" else name
            targets[f"ntm_p50_at_or_below_{key}"] = all(a <= b for a, b in zip(ntm, ted))
    if 200 in lengths:
        targets["ntm_p50_200_under_15ms"] = ntm[lengths.index(200)] < 15
        if 1000 in lengths:
            ratio = ntm[lengths.index(1000)] / ntm[lengths.index(200)]
            targets["ntm_p50_1000_over_200"] = round(ratio, 2)
            targets["ntm_p50_1000_at_most_5.5x_200"] = ratio <= 5.5
    own = policies.get("NTMPolicy", {}).get("policy_ms" + suffix)
    if own and 10 in lengths and 1000 in lengths and own[lengths.index(10)]:
        ratio = own[lengths.index(1000)] / own[lengths.index(10)]
        targets["ntm_policy_ms_1000_over_10"] = round(ratio, 2)
        targets["ntm_policy_ms_1000_at_most_2x_10"] = ratio <= 2
    return targets


def markdown(report: Dict[str, Any]) -> str:
    lengths, policies = report["lengths"], report["policies"]
    lines = [f"# Prediction latency against dialogue length ({report['date']})", "",
             f"Machine: {report['machine']['description']}. Times are one prediction through "
             "Rasa's prediction graph (`MessageProcessor._predict_next_with_tracker`), "
             "p50 / p99 in ms over the number of calls given, after warm-up.", ""]
    if report.get("command"):
        lines += [f"Command: `{report['command']}`, nothing else running.", ""]
    for kind in report["kinds"]:
        suffix = "" if kind == PRIMARY_KIND else f"_{kind}"
        lines += [f"## {kind} trackers" + (" (primary)" if kind == PRIMARY_KIND else ""), "",
                  report["tracker_kind"][kind], "",
                  "| policy | " + " | ".join(f"{n} turns p50 / p99" for n in lengths)
                  + " | calls | peak RSS MB |",
                  "| --- | " + " | ".join("---" for _ in lengths) + " | --- | --- |"]
        for name, entry in policies.items():
            if "error" in entry:
                lines.append(f"| {name} | " + " | ".join("-" for _ in lengths)
                             + f" | - | error: {entry['error'][:80]} |")
                continue
            cells = [f"{p:.1f} / {q:.1f}" for p, q in zip(entry["p50_ms" + suffix],
                                                          entry["p99_ms" + suffix])]
            calls = "/".join(str(c) for c in entry["calls" + suffix])
            lines.append(f"| {name} | " + " | ".join(cells)
                         + f" | {calls} | {entry['peak_rss_mb']:.0f} |")
        lines.append("")
        diagnosed = [(name, e) for name, e in policies.items() if e.get("states" + suffix)]
        if diagnosed:
            lines += ["Where the time goes: dialogue states featurized (NTMPolicy: in brackets, "
                      "the states its memory runs over after folding digressions) / median ms of "
                      "Rasa's tracker-to-states conversion (`_prediction_states`) / median ms of "
                      "`predict_action_probabilities` called directly, outside the graph, on a "
                      "conversation whose previous turn it predicted / the same on one it has "
                      "never seen.", "",
                      "| policy | " + " | ".join(f"{n} turns" for n in lengths) + " |",
                      "| --- | " + " | ".join("---" for _ in lengths) + " |"]
            for name, e in diagnosed:
                cells = []
                for i in range(len(lengths)):
                    restored = (e.get("restored_states" + suffix) or [None] * len(lengths))[i]
                    count = f"{e['states' + suffix][i]}" + (f" ({restored} restored)"
                                                            if restored else "")
                    times = [_ms((e.get(k + suffix) or [None] * len(lengths))[i])
                             for k in ("states_ms", "policy_ms", "policy_ms_from_scratch")]
                    cells.append(" / ".join([count] + times))
                lines.append(f"| {name} | " + " | ".join(cells) + " |")
            lines.append("")
        targets = report["targets"].get(kind)
        if targets:
            lines += ["Targets (issues 5 and 19): "
                      + ", ".join(f"{k} = {v}" for k, v in targets.items()), ""]
    lines += ["## Models", "", "| policy | how obtained | epochs | path |",
              "| --- | --- | --- | --- |"]
    for name, entry in policies.items():
        model = entry.get("model") or {}
        lines.append(f"| {name} | {model.get('source', '?')} | {model.get('epochs', '?')} "
                     f"| `{model.get('path', '?')}` |")
    return "\n".join(lines) + "\n"


def _ms(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.1f}"


def plot(report: Dict[str, Any], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds, lengths = report["kinds"], report["lengths"]
    fig, axes = plt.subplots(1, len(kinds), figsize=(6 * len(kinds), 4.5), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        suffix = "" if kind == PRIMARY_KIND else f"_{kind}"
        for name, entry in report["policies"].items():
            if "p50_ms" + suffix not in entry:
                continue
            colour = COLOURS.get(name)
            ax.plot(lengths, entry["p50_ms" + suffix], "o-", color=colour, label=f"{name} p50")
            ax.plot(lengths, entry["p99_ms" + suffix], "--", color=colour, alpha=0.35,
                    label=f"{name} p99")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(lengths)
        ax.set_xticklabels([str(n) for n in lengths])
        ax.set_xlabel("turns in the tracker")
        ax.set_ylabel("ms per prediction")
        ax.set_title(f"{kind} trackers" + (" (primary)" if kind == PRIMARY_KIND else ""))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Prediction latency through Rasa's graph (p50, p99 dashed)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# --- models ------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _redp_benchmark():
    """bench/redp_benchmark.py as a module (loaded once)."""
    spec = importlib.util.spec_from_file_location(
        "redp_benchmark", Path(__file__).resolve().parent / "redp_benchmark.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def benchmark_key(name: str) -> str:
    """The REDP benchmark's work-directory name for this script's config of `name`
    (bench/redp_benchmark.config_key: the policy and a hash of the options it trains with)."""
    return _redp_benchmark().config_key(name, POLICY_CONFIGS[name])


def default_model_path(name: str) -> Optional[Path]:
    """The model of policy `name` used when --model gives none: one the REDP benchmark
    (bench/redp_benchmark.py, issue 4) trained on all the training stories with the options this
    script's config of `name` trains with, in bench/work/redp/KEY/p0_runR/*.tar.gz (KEY from
    benchmark_key; p0: 0 % of the stories excluded); run 1 is preferred. None when there is no
    such model (then one is trained here)."""
    found = sorted((ROOT / "bench" / "work" / "redp" / benchmark_key(name)).glob(
        "p0_run*/*.tar.gz"))
    return found[0] if found else None


def quick_config(name: str, epochs: int) -> Dict[str, Any]:
    return {"recipe": "default.v1", "language": "en", "assistant_id": "latency-bench",
            "pipeline": [], "policies": [{**POLICY_CONFIGS[name], "epochs": epochs}]}


def package_hash() -> str:
    """A hash of this repository's policy code (rasa_ntm_policy/**/*.py), so that a cached quick
    model of NTMPolicy or REDPPolicy is retrained when that code changes."""
    digest = hashlib.sha1()
    for path in sorted((ROOT / "rasa_ntm_policy").rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:8]


def train_quick(name: str, epochs: int, data: Path, work: Path) -> Dict[str, Any]:
    """A model of `name` trained with `rasa train core` on data/train, cached by epochs (and, for
    this repository's policies, by the hash of their code)."""
    out = work / "models"
    ours = POLICY_CONFIGS[name]["name"].startswith("rasa_ntm_policy.")
    stem = f"{name}-{data.name}-quick{epochs}" + (f"-{package_hash()}" if ours else "")
    model = out / f"{stem}.tar.gz"
    info = {"source": "trained here (quick)", "path": str(model), "epochs": epochs,
            "config": quick_config(name, epochs)["policies"][0]}
    if model.exists():
        info["source"] = "trained here (quick, cached)"
        return info
    out.mkdir(parents=True, exist_ok=True)
    config = out / f"{stem}.yml"
    config.write_text(yaml.safe_dump(quick_config(name, epochs), sort_keys=False))
    rasa = str(Path(sys.executable).with_name("rasa"))
    command = [rasa, "train", "core", "-c", str(config), "-d", str(data / "domain.yml"),
               "-s", str(data / "data" / "train"), "--out", str(out),
               "--fixed-model-name", stem, "--augmentation", "0"]
    print(f"training {name} ({epochs} epochs): {' '.join(command)}", flush=True)
    start = time.perf_counter()
    # run in the work folder, without Rasa's training cache: nothing lands in the repository root
    result = subprocess.run(command, cwd=work, env={**ENV, "RASA_MAX_CACHE_SIZE": "0"},
                            capture_output=True, text=True)
    if result.returncode != 0 or not model.exists():
        raise RuntimeError(f"training {name} failed: {(result.stdout + result.stderr)[-2000:]}")
    info["train_seconds"] = round(time.perf_counter() - start, 1)
    return info


# --- the worker: one policy, one process --------------------------------------------------------

def rss_mb() -> Dict[str, float]:
    import resource

    now = None
    try:
        with open("/proc/self/status") as f:
            now = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024
    except (OSError, StopIteration):
        pass
    return {"now": now, "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def policy_component(processor, class_name: str):
    """The policy object inside the loaded prediction graph (for diagnostics only)."""
    for node in getattr(processor.graph_runner, "_instantiated_nodes", {}).values():
        component = getattr(node, "_component", None)
        if type(component).__name__ == class_name:
            return component
    return None


def model_policy_config(metadata, class_name: str) -> Dict[str, Any]:
    for node in metadata.predict_schema.nodes.values():
        if node.uses.__name__ == class_name:
            return dict(node.config)
    return {}


def worker(spec: Dict[str, Any]) -> Dict[str, Any]:
    from rasa.core.agent import Agent
    from rasa.shared.core.trackers import DialogueStateTracker

    class_name = POLICY_CONFIGS[spec["name"]]["name"].split(".")[-1]
    start = time.perf_counter()
    agent = Agent.load(spec["model"]["path"])
    load_seconds = time.perf_counter() - start
    processor, domain = agent.processor, agent.processor.domain
    config = model_policy_config(processor.model_metadata, class_name)
    model = {**spec["model"], "epochs": config.get("epochs", spec["model"].get("epochs")),
             "max_history": config.get("max_history")}
    rss_after_load = rss_mb()["now"]
    policy = policy_component(processor, class_name)
    sources = {"stories": story_turns(domain, Path(spec["stories"]))}
    cells: Dict[str, Dict[str, Any]] = {}
    for kind in spec["kinds"]:
        cells[kind] = {}
        for length in spec["lengths"]:
            events = (tracker_events(sources["stories"], length) if kind == "stories"
                      else chitchat_events(length))
            assert count_turns(events) == length

            before = previous_prediction(events)
            senders = itertools.count()

            def fresh(primed: bool = True, predict=processor._predict_next_with_tracker):
                """A new tracker per call, as a server builds one per message, of a new
                conversation; primed: one whose previous prediction (the last bot action of
                turn N - 1) this process made before with predict, as a server that holds the
                conversation has."""
                sender = f"latency-{kind}-{length}-{next(senders)}"
                if primed:
                    predict(DialogueStateTracker.from_events(sender, before, slots=domain.slots))
                return DialogueStateTracker.from_events(sender, events, slots=domain.slots)

            cell: Dict[str, Any] = {}
            tracker = fresh(primed=False)
            t0 = time.perf_counter()
            processor._predict_next_with_tracker(tracker)
            cell["first_call_ms"] = round((time.perf_counter() - t0) * 1000, 2)
            for _ in range(spec["warmup"]):
                processor._predict_next_with_tracker(fresh())
            repeats = spec["repeats"] if length <= spec["long_from"] else spec["repeats_long"]
            times, begun = [], time.perf_counter()
            while len(times) < repeats:
                tracker = fresh()
                t0 = time.perf_counter()
                processor._predict_next_with_tracker(tracker)
                times.append((time.perf_counter() - t0) * 1000)
                if (time.perf_counter() - begun > spec["cell_seconds"]
                        and len(times) >= spec["min_calls"]):
                    break
            cell.update(percentiles(times))
            cell.update(_diagnostics(policy, fresh, domain, spec["diagnostic_calls"]))
            cell["peak_rss_mb_after"] = round(rss_mb()["peak"], 1)
            cells[kind][str(length)] = cell
            print(f"  {spec['name']} {kind} {length}: p50 {cell['p50_ms']:.2f} ms "
                  f"p99 {cell['p99_ms']:.2f} ms ({cell['calls']} calls, first "
                  f"{cell['first_call_ms']:.0f} ms)", flush=True)
    return {"model": model, "load_seconds": round(load_seconds, 1), "cells": cells,
            "rss_after_load_mb": round(rss_after_load, 1) if rss_after_load else None,
            "peak_rss_mb": round(rss_mb()["peak"], 1)}


def _diagnostics(policy, fresh, domain, calls: int) -> Dict[str, Any]:
    """Where the time goes, for one tracker: how many dialogue states the policy featurizes
    (`states`; NTMPolicy: and at how many the memory returns to an earlier state,
    `restored_states`), the median time of Rasa's tracker -> states conversion that every policy
    here starts with (`states_ms`, `Policy._prediction_states`) and of the policy's
    `predict_action_probabilities` called directly, outside the graph: on a conversation whose
    previous prediction this process made (`policy_ms`, what a server pays per message; NTMPolicy
    then replays only the new events, rasa_ntm_policy/conversation_cache.py) and on one it has
    never seen (`policy_ms_from_scratch`).
    Diagnostics only: {} (or less) if the internals differ."""
    if policy is None:
        return {}
    out: Dict[str, Any] = {}
    try:
        states = policy._prediction_states(fresh(primed=False), domain)
        out["states"] = len(states)
        if type(policy).__name__ == "NTMPolicy" and policy.config.get("restore_digressions"):
            from rasa_ntm_policy.dialogue import NO_RESTORE, restore_indices
            out["restored_states"] = int((restore_indices(states) != NO_RESTORE).sum())
        def alone(tracker):
            return policy.predict_action_probabilities(tracker, domain)

        for key, call, primed in (
                ("states_ms", lambda t: policy._prediction_states(t, domain), False),
                ("policy_ms", alone, True), ("policy_ms_from_scratch", alone, False)):
            times = []
            for _ in range(calls):
                tracker = fresh(primed, predict=alone)
                t0 = time.perf_counter()
                call(tracker)
                times.append((time.perf_counter() - t0) * 1000)
            if times:
                out[key] = round(float(np.median(times)), 3)
    except Exception:  # noqa: BLE001 - a diagnostic must not stop the benchmark
        pass
    return out


def run_worker(name: str, model: Dict[str, Any], args) -> Dict[str, Any]:
    spec = {"name": name, "model": model, "lengths": args.lengths, "kinds": args.kinds,
            "warmup": args.warmup, "repeats": args.repeats, "repeats_long": args.repeats_long,
            "long_from": args.long_from, "cell_seconds": args.cell_seconds,
            "min_calls": args.min_calls, "diagnostic_calls": args.diagnostic_calls,
            "stories": str(args.stories)}
    with tempfile.TemporaryDirectory() as tmp:
        spec_path, out_path = Path(tmp) / "spec.json", Path(tmp) / "result.json"
        spec_path.write_text(json.dumps(spec))
        process = subprocess.run([sys.executable, __file__, "--worker", str(spec_path),
                                  str(out_path)], env=ENV, stderr=subprocess.PIPE, text=True)
        result = json.loads(out_path.read_text()) if out_path.exists() else {
            "error": f"worker exited with {process.returncode}"}
        if process.returncode != 0 or "error" in result:
            result = {"error": result.get("error", f"exit {process.returncode}"), "model": model,
                      "stderr_tail": process.stderr[-3000:]}
        return result


def machine() -> Dict[str, Any]:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = {}
    for package in ("rasa", "tensorflow", "numpy"):
        try:
            from importlib.metadata import version
            versions[package] = version(package)
        except Exception:  # noqa: BLE001
            pass
    return {"description": f"{os.cpu_count()} CPU cores ({cpu}), {platform.system()}",
            "cpu_count": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "node": platform.node(), **versions}


TRACKER_KINDS = {
    "stories": "The benchmark's test stories' turns one after another, cycled (real hotel "
               "dialogue: digressions, entities, slots).",
    "chitchat": "`request_hotel` -> `utter_ask_details`, then `chitchat` -> `utter_chitchat`, "
                "`utter_ask_details` repeated (the issue's TED figures; NTMPolicy folds the "
                "repeats away).",
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policies", nargs="+", default=list(POLICY_CONFIGS),
                        choices=list(POLICY_CONFIGS))
    parser.add_argument("--model", action="append", default=[], metavar="NAME=PATH",
                        help="a trained model (.tar.gz) for policy NAME; repeatable")
    parser.add_argument("--lengths", nargs="+", type=int, default=LENGTHS)
    parser.add_argument("--kinds", nargs="+", default=KINDS, choices=KINDS)
    parser.add_argument("--warmup", type=int, default=3,
                        help="untimed calls per length after the first (JSON first_call_ms)")
    parser.add_argument("--repeats", type=int, default=50, help="timed calls per length")
    parser.add_argument("--repeats-long", type=int, default=20,
                        help="timed calls for lengths above --long-from")
    parser.add_argument("--long-from", type=int, default=200)
    parser.add_argument("--cell-seconds", type=float, default=60.0,
                        help="stop a length's timed calls after this long (at least --min-calls)")
    parser.add_argument("--min-calls", type=int, default=5)
    parser.add_argument("--diagnostic-calls", type=int, default=3,
                        help="calls per length timing Rasa's states conversion and the policy "
                             "alone (JSON states_ms, policy_ms); 0: skip")
    parser.add_argument("--quick-epochs", type=int, default=5,
                        help="epochs of a model trained here when none is given or found")
    parser.add_argument("--data", type=Path, default=DATA, help="the REDP benchmark data set")
    parser.add_argument("--stories", type=Path, default=None,
                        help="stories for the 'stories' trackers (default DATA/data/test)")
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.data = args.data.resolve()  # the training runs in --work
    args.stories = (args.stories or args.data / "data" / "test").resolve()
    args.kinds = [k for k in KINDS if k in args.kinds]  # the primary kind first
    if PRIMARY_KIND not in args.kinds:
        parser.error(f"--kinds must include {PRIMARY_KIND}")
    given = {}
    for item in args.model:
        name, _, path = item.partition("=")
        if name not in POLICY_CONFIGS or not path:
            parser.error(f"--model wants NAME=PATH with NAME one of {list(POLICY_CONFIGS)}")
        given[name] = Path(path).resolve()

    started = datetime.datetime.now().astimezone()
    load_before = os.getloadavg()
    models: Dict[str, Dict[str, Any]] = {}
    results: Dict[str, Dict[str, Any]] = {}
    for name in args.policies:
        if name in given:
            models[name] = {"source": "--model", "path": str(given[name])}
        elif args.data == DATA and (found := default_model_path(name)) is not None:
            models[name] = {"source": "default_model_path", "path": str(found)}
        else:
            try:
                models[name] = train_quick(name, args.quick_epochs, args.data, args.work)
            except RuntimeError as error:
                results[name] = {"error": str(error).splitlines()[0][:300], "model": None}
                print(error, file=sys.stderr)
    for name in args.policies:
        if name in results:
            continue
        print(f"{name}: {models[name]['path']}", flush=True)
        results[name] = run_worker(name, models[name], args)
        if "error" in results[name]:
            print(f"{name} failed:\n{results[name].get('stderr_tail', '')}", file=sys.stderr)

    policies = aggregate(results, args.lengths, args.kinds)
    for entry in policies.values():  # paths in the repository recorded relative to its root
        model = entry.get("model") or {}
        if model.get("path") and Path(model["path"]).is_relative_to(ROOT):
            model["path"] = str(Path(model["path"]).relative_to(ROOT))
    report = {
        "command": ".venv/bin/python bench/latency.py " + " ".join(argv or sys.argv[1:]),
        "lengths": args.lengths,
        "policies": policies,
        "kinds": args.kinds,
        "tracker_kind": {kind: TRACKER_KINDS[kind]
                         if args.stories == (DATA / "data" / "test").resolve()
                         or kind != "stories" else
                         f"The turns of the stories in `{os.path.relpath(args.stories, ROOT)}` "
                         "one after another, cycled." for kind in args.kinds},
        "turn": "one UserUttered and the events after it up to and including the next "
                "action_listen; a tracker of N turns ends with the N-th user message awaiting "
                "the bot's first action, which is the prediction timed",
        "timed": "MessageProcessor._predict_next_with_tracker (Rasa's prediction graph) on a "
                 "fresh DialogueStateTracker per call, of a new conversation whose previous "
                 "prediction (the last bot action of turn N - 1) the process made untimed "
                 "before; p50/p99 = numpy percentile (linear)",
        "targets": {kind: check_targets(policies, args.lengths, kind) for kind in args.kinds},
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                     if k not in ("model",)},
        "machine": {**machine(), "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in os.getloadavg()]},
        "date": started.isoformat(timespec="seconds"),
        "seconds": round((datetime.datetime.now().astimezone() - started).total_seconds(), 1),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latency.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "latency.md").write_text(markdown(report))
    plot(report, args.out / "latency.png")
    print(markdown(report))
    return report


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        try:
            result = worker(json.loads(Path(sys.argv[2]).read_text()))
        except Exception as error:  # reported in latency.json; the other policies go on
            Path(sys.argv[3]).write_text(json.dumps({"error": f"{type(error).__name__}: {error}"}))
            raise
        Path(sys.argv[3]).write_text(json.dumps(result))
    else:
        main()
