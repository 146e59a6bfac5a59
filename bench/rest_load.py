"""Latency of the example bot through a running server, under concurrent conversations (issue 5).

Starts the example bot's action server and `rasa run --enable-api` (REST channel from
example_bot/credentials.yml, an in-memory tracker store: nothing is written to
example_bot/tracker.db) on free ports, waits for both, holds one untimed warm-up conversation,
then from this process runs --conversations conversations at once, each posting its messages one
after another (the next when the reply to the previous has come) to /webhooks/rest/webhook with its
own sender id. A conversation's messages are the user messages of one of the example bot's test
stories (example_bot/tests/test_stories.yml: hotel and restaurant bookings with chitchat, "why do
you need that?", corrections, "did that work?"), conversation i taking story i; with --rounds R
each of the concurrent slots holds R conversations in turn. The time of a message is from sending
the POST to having read the whole reply (NLU, the dialogue policies, custom actions on the action
server, the bot's responses).

Writes bench/results/rest_load.json and rest_load.md: p50 / p99 / mean / max per message,
messages per second over the load phase, errors, and which policies predicted the bot's actions.
Both servers are stopped on exit, also after an error or Ctrl-C. A model is trained first
(`rasa train --config ../config.yml --out models` in example_bot/) if example_bot/models has none.

  .venv/bin/python bench/rest_load.py                   # 8 conversations at once, 3 rounds
  .venv/bin/python bench/rest_load.py --conversations 4 --rounds 3 \
      --model example_bot/models/X.tar.gz
"""
import argparse
import asyncio
import datetime
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOT = ROOT / "example_bot"
RESULTS = ROOT / "bench" / "results"
WORK = ROOT / "bench" / "work" / "rest_load"
RASA = str(Path(sys.executable).with_name("rasa"))
ENV = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "LOG_LEVEL": "WARNING",
       "TF_CPP_MIN_LOG_LEVEL": "2"}


# --- the conversations -------------------------------------------------------------------------

_ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")


def plain_text(message: str) -> str:
    """A test story's user message without entity annotations: "[Rome](location) please" ->
    "Rome please"."""
    return _ANNOTATION.sub(r"\1", message).strip()


def conversations_from_stories(path: Path) -> List[Dict[str, Any]]:
    """[{"story": name, "messages": [user messages in order]}] of a test stories file."""
    stories = yaml.safe_load(Path(path).read_text())["stories"]
    out = []
    for story in stories:
        messages = [plain_text(step["user"]) for step in story["steps"] if "user" in step]
        if messages:
            out.append({"story": story["story"], "messages": messages})
    return out


def summarize(latencies_ms: Sequence[float], seconds: float, errors: int) -> Dict[str, Any]:
    values = np.asarray(latencies_ms, float)
    if values.size == 0:
        return {"messages": 0, "errors": errors, "seconds": round(seconds, 2)}
    return {"messages": int(values.size), "errors": errors,
            "p50_ms": round(float(np.percentile(values, 50)), 1),
            "p99_ms": round(float(np.percentile(values, 99)), 1),
            "mean_ms": round(float(values.mean()), 1), "max_ms": round(float(values.max()), 1),
            "seconds": round(seconds, 2),
            "messages_per_second": round(values.size / seconds, 2) if seconds > 0 else None}


# --- the servers -------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def newest_model(directory: Path) -> Optional[Path]:
    models = sorted(directory.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return models[-1] if models else None


def train_example_bot() -> Path:
    print("example_bot/models has no model: training the example bot (a few minutes)", flush=True)
    subprocess.run([RASA, "train", "--config", "../config.yml", "--domain", "domain.yml",
                    "--data", "data", "--out", "models"], cwd=BOT, env=ENV, check=True)
    model = newest_model(BOT / "models")
    if model is None:
        raise RuntimeError("rasa train left no model in example_bot/models")
    return model


class Servers:
    """The action server and `rasa run`, each in its own process group, stopped on exit."""

    def __init__(self, model: Path, logs: Path):
        self.model, self.logs = model, logs
        self.processes: List[subprocess.Popen] = []
        self.actions_port, self.rasa_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.rasa_port}"

    def __enter__(self) -> "Servers":
        self.logs.mkdir(parents=True, exist_ok=True)
        self._tmp = tempfile.TemporaryDirectory()
        endpoints = Path(self._tmp.name) / "endpoints.yml"
        # no tracker_store: Rasa keeps the conversations in memory
        endpoints.write_text(yaml.safe_dump(
            {"action_endpoint": {"url": f"http://127.0.0.1:{self.actions_port}/webhook"}}))
        try:
            self._start("actions", [RASA, "run", "actions", "--actions", "actions", "--port",
                                    str(self.actions_port)])
            self._start("rasa", [RASA, "run", "-m", str(self.model), "--enable-api",
                                 "--port", str(self.rasa_port), "--credentials",
                                 "credentials.yml", "--endpoints", str(endpoints)])
            self._wait(f"http://127.0.0.1:{self.actions_port}/health", self.processes[0])
            self._wait(f"{self.url}/status", self.processes[1])
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self, name: str, command: List[str]) -> None:
        log = open(self.logs / f"{name}.log", "w")
        self.processes.append(subprocess.Popen(command, cwd=BOT, env=ENV, stdout=log,
                                               stderr=subprocess.STDOUT,
                                               start_new_session=True))
        log.close()

    def _wait(self, url: str, process: subprocess.Popen, seconds: float = 600) -> None:
        deadline = time.time() + seconds
        while time.time() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{' '.join(process.args[:3])} exited with "
                                   f"{process.returncode}; see {self.logs}")
            try:
                with urllib.request.urlopen(url, timeout=5):
                    return
            except OSError:
                time.sleep(1)
        raise TimeoutError(f"{url} did not answer in {seconds} s; see {self.logs}")

    def __exit__(self, *exc) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                try:  # the process group we started (rasa may have started children)
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for process in reversed(self.processes):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait()
        self.processes = []
        if getattr(self, "_tmp", None):
            self._tmp.cleanup()
            self._tmp = None


# --- the load ----------------------------------------------------------------------------------

async def converse(session, url: str, sender: str, messages: Sequence[str], timeout: float,
                   record: List[Dict[str, Any]]) -> None:
    import aiohttp

    for turn, message in enumerate(messages):
        t0 = time.perf_counter()
        entry: Dict[str, Any] = {"sender": sender, "turn": turn}
        try:
            async with session.post(f"{url}/webhooks/rest/webhook",
                                    json={"sender": sender, "message": message},
                                    timeout=aiohttp.ClientTimeout(total=timeout)) as response:
                body = await response.read()
                entry["ms"] = (time.perf_counter() - t0) * 1000
                if response.status != 200:
                    entry["error"] = f"HTTP {response.status}: {body[:200]!r}"
                elif not json.loads(body):
                    entry["empty"] = True  # the bot said nothing: counted, not an error
        except Exception as error:  # noqa: BLE001 - counted and reported
            entry["ms"] = (time.perf_counter() - t0) * 1000
            entry["error"] = f"{type(error).__name__}: {error}"
        record.append(entry)


async def load(url: str, conversations: List[Dict[str, Any]], slots: int, rounds: int,
               timeout: float, run_id: str) -> Dict[str, Any]:
    import aiohttp

    record: List[Dict[str, Any]] = []
    senders: List[str] = []

    async def slot(i: int) -> None:
        for r in range(rounds):
            k = i + r * slots
            sender = f"load-{run_id}-{k}"
            senders.append(sender)
            await converse(session, url, sender,
                           conversations[k % len(conversations)]["messages"], timeout, record)

    async with aiohttp.ClientSession() as session:
        start = time.perf_counter()
        await asyncio.gather(*(slot(i) for i in range(slots)))
        seconds = time.perf_counter() - start
    return {"record": record, "seconds": seconds, "senders": senders}


def predicted_by(url: str, senders: Sequence[str]) -> Dict[str, int]:
    """How many of the bot's actions each policy predicted, from the conversations' trackers."""
    counts: Counter = Counter()
    for sender in senders:
        with urllib.request.urlopen(f"{url}/conversations/{sender}/tracker", timeout=60) as r:
            events = json.loads(r.read())["events"]
        for event in events:
            # actions without a policy are the session start's (action_session_start, listen)
            if event.get("event") == "action" and event.get("policy"):
                counts[re.sub(r"^policy_\d+_", "", event["policy"])] += 1
    return dict(counts.most_common())


def markdown(report: Dict[str, Any]) -> str:
    s, w = report["load"], report["warmup"]
    lines = [f"# The example bot through `rasa run` under load ({report['date']})", "",
             f"Machine: {report['machine']['description']}. Model `{report['model']}`; "
             f"{report['settings']['conversations']} conversations at once "
             f"x {report['settings']['rounds']} round(s), messages from "
             "example_bot/tests/test_stories.yml, posted to the REST webhook; in-memory tracker "
             "store.", "",
             "| phase | messages | errors | p50 ms | p99 ms | mean ms | max ms | messages/s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, part in (("warm-up (1 conversation)", w), ("load", s)):
        lines.append(f"| {name} | {part['messages']} | {part['errors']} | {part.get('p50_ms')} | "
                     f"{part.get('p99_ms')} | {part.get('mean_ms')} | {part.get('max_ms')} | "
                     f"{part.get('messages_per_second')} |")
    lines += ["", "Bot actions by predicting policy (load phase): "
              + ", ".join(f"{k} {v}" for k, v in report["predicted_by"].items()), ""]
    if report["error_samples"]:
        lines += ["Errors (first few): " + "; ".join(report["error_samples"]), ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=8,
                        help="conversations held at the same time")
    parser.add_argument("--rounds", type=int, default=3,
                        help="conversations each concurrent slot holds one after another")
    parser.add_argument("--model", type=Path, default=None,
                        help="a trained example-bot model (default: newest in example_bot/models, "
                             "trained first if there is none)")
    parser.add_argument("--stories", type=Path, default=BOT / "tests" / "test_stories.yml")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per message")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--logs", type=Path, default=WORK, help="where the servers' logs go")
    args = parser.parse_args(argv)
    # SIGTERM ends the run like Ctrl-C: the servers are stopped on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    model = (args.model.resolve() if args.model else newest_model(BOT / "models")
             or train_example_bot())
    conversations = conversations_from_stories(args.stories)
    started = datetime.datetime.now().astimezone()
    run_id = started.strftime("%H%M%S")
    with Servers(model, args.logs) as servers:
        print(f"servers up: rasa {servers.url}, actions port {servers.actions_port}", flush=True)
        warm = asyncio.run(load(servers.url, conversations[:1], 1, 1, args.timeout,
                                f"{run_id}-warmup"))
        result = asyncio.run(load(servers.url, conversations, args.conversations, args.rounds,
                                  args.timeout, run_id))
        policies = predicted_by(servers.url, result["senders"])
    errors = [e for e in result["record"] if "error" in e]
    ok = [e["ms"] for e in result["record"] if "error" not in e]
    warm_ok = [e["ms"] for e in warm["record"] if "error" not in e]
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from latency import machine  # noqa: E402 - the same machine record as latency.json
    report = {
        "date": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "model": str(model.relative_to(ROOT) if model.is_relative_to(ROOT) else model),
        "settings": {"conversations": args.conversations, "rounds": args.rounds,
                     "stories": str(args.stories), "timeout_s": args.timeout,
                     "tracker_store": "in memory"},
        "warmup": summarize(warm_ok, warm["seconds"],
                            sum("error" in e for e in warm["record"])),
        "load": summarize(ok, result["seconds"], len(errors)),
        "empty_replies": sum(bool(e.get("empty")) for e in result["record"]),
        "per_turn_p50_ms": _per_turn(result["record"]),
        "predicted_by": policies,
        "error_samples": sorted({e["error"] for e in errors})[:5],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "rest_load.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "rest_load.md").write_text(markdown(report))
    print(markdown(report))
    return report


def _per_turn(record: Sequence[Dict[str, Any]]) -> List[float]:
    """p50 ms of the i-th message of the conversations, i = 0, 1, ... (does latency grow?)."""
    by_turn: Dict[int, List[float]] = {}
    for e in record:
        if "error" not in e:
            by_turn.setdefault(e["turn"], []).append(e["ms"])
    return [round(float(np.median(by_turn[t])), 1) for t in sorted(by_turn)]


if __name__ == "__main__":
    main()
