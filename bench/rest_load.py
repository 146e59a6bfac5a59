"""The example bot through a running server under sustained load: latency, throughput, replies
that must not depend on the load, and memory (issues 5 and 19).

Starts the example bot's action server and `rasa run --enable-api` (REST channel from
example_bot/credentials.yml; an SQLite tracker store in a temporary directory by default, or
`--tracker-store memory`) on free loopback ports, waits for both and holds one untimed warm-up
conversation. Then --conversations conversations run at once, each posting its messages one
after another (the next when the reply to the previous has come) to /webhooks/rest/webhook with
its own sender id; each of the concurrent slots holds --rounds conversations in turn, so the
load is conversations x rounds x --turns messages, and it stops early after --max-seconds. A
conversation's script is --turns messages: the user messages of the example bot's test stories
(example_bot/tests/test_stories.yml) and plain-language conversations
(example_bot/tests/conversations.yml), one after another from script j's own starting point
(hotel and restaurant bookings, task switches, chitchat, "why do you need that?",
corrections). The time of a message is from sending the POST to having read the whole reply
(NLU, the dialogue policies, custom actions on the action server, the bot's responses).

After the load, every script is held once more alone (one conversation at a time), and each
loaded conversation's bot actions, read from its tracker (the response texts vary by design),
are compared with those of its script held alone: `mismatched_replies` counts the conversations
whose actions differ. The resident memory of the `rasa run` process (with any children) is
read after --memory-at messages (1,000 and 10,000 by default) and at the end.

Writes bench/results/rest_load.json and rest_load.md: p50 / p99 / mean / max per message,
messages per second over the load phase, errors, mismatched replies, memory, and which policies
predicted the bot's actions. Both servers are stopped on exit, also after an error or Ctrl-C. A
model is trained first (`rasa train --config ../config.yml --out models` in example_bot/) if
example_bot/models has none.

  .venv/bin/python bench/rest_load.py            # 50 conversations at once x 7 rounds x 30 turns
  .venv/bin/python bench/rest_load.py --conversations 4 --rounds 2 --turns 10 \
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
       "TF_CPP_MIN_LOG_LEVEL": "2", "VENV": str(Path(RASA).parents[1])}


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


def scripts_from(sources: Sequence[Sequence[str]], turns: int) -> List[List[str]]:
    """One script of exactly `turns` messages per source: script j is source j, then j + 1, ...
    (round the list) one after another, cut at `turns`. [] when the sources hold no message."""
    sources = [list(messages) for messages in sources if messages]
    scripts = []
    for j in range(len(sources) if turns > 0 else 0):
        script: List[str] = []
        k = j
        while len(script) < turns:
            script += sources[k % len(sources)]
            k += 1
        scripts.append(script[:turns])
    return scripts


def bot_actions(events: Sequence[Dict[str, Any]]) -> List[str]:
    """The actions the bot took, in order (action_listen included), from a tracker's events."""
    return [e["name"] for e in events if e.get("event") == "action"]


def mismatched(conversations: Sequence[Dict[str, Any]], actions: Dict[str, List[str]],
               alone: Dict[int, List[str]]) -> List[str]:
    """The senders of conversations ({"sender", "script"}) whose bot actions differ from those
    of their script held alone (a conversation with no tracker counts as different)."""
    return [c["sender"] for c in conversations
            if actions.get(c["sender"]) != alone.get(c["script"])]


def first_difference(loaded: Optional[List[str]], alone: List[str],
                     conversation: Dict[str, Any]) -> Dict[str, Any]:
    """Where a loaded conversation's bot actions first differ from its script held alone, with
    a few actions either side (for the report)."""
    loaded = loaded or []
    at = next((i for i, (a, b) in enumerate(zip(loaded, alone)) if a != b),
              min(len(loaded), len(alone)))
    return {**conversation, "at": at, "loaded": loaded[max(0, at - 3):at + 3],
            "alone": alone[max(0, at - 3):at + 3]}


def rss_bytes(pid: int) -> int:
    """Resident memory of process pid and its descendants, from /proc (Linux); 0 if gone."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total


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

    def __init__(self, model: Path, logs: Path, tracker_store: str = "memory"):
        """tracker_store: "memory" (Rasa keeps the conversations in the process) or "sqlite"
        (a database file in a temporary directory, gone on exit)."""
        if tracker_store not in ("memory", "sqlite"):
            raise ValueError(f"tracker_store must be 'memory' or 'sqlite', not {tracker_store!r}")
        self.model, self.logs, self.tracker_store = model, logs, tracker_store
        self.processes: List[subprocess.Popen] = []
        self.actions_port, self.rasa_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.rasa_port}"

    def __enter__(self) -> "Servers":
        self.logs.mkdir(parents=True, exist_ok=True)
        self._tmp = tempfile.TemporaryDirectory()
        endpoints = Path(self._tmp.name) / "endpoints.yml"
        settings: Dict[str, Any] = {
            "action_endpoint": {"url": f"http://127.0.0.1:{self.actions_port}/webhook"}}
        if self.tracker_store == "sqlite":  # without a tracker_store Rasa keeps them in memory
            settings["tracker_store"] = {"type": "SQL", "dialect": "sqlite",
                                         "db": str(Path(self._tmp.name) / "tracker.db")}
        endpoints.write_text(yaml.safe_dump(settings))
        try:
            self._start("actions", ["bash", str(ROOT / "scripts" / "run_actions.sh"),
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

    @property
    def rasa_pid(self) -> int:
        return self.processes[1].pid

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
                   record: List[Dict[str, Any]], on_message=None) -> None:
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
        if on_message is not None:
            on_message(len(record))


async def load(url: str, scripts: Sequence[Sequence[str]], slots: int, rounds: int,
               timeout: float, run_id: str, max_seconds: float = float("inf"),
               on_message=None) -> Dict[str, Any]:
    """slots conversations at once, each slot holding rounds conversations in turn;
    conversation k has script k % len(scripts) and sender id "<run_id>-<k>". No new
    conversation starts after max_seconds.
    on_message(messages so far) is called after every reply.
    -> {"record": one entry per message, "seconds", "conversations": [{"sender", "script"}]}"""
    import aiohttp

    record: List[Dict[str, Any]] = []
    conversations: List[Dict[str, Any]] = []
    start = time.perf_counter()

    async def slot(i: int) -> None:
        for r in range(rounds):
            if time.perf_counter() - start > max_seconds:
                return
            k = i + r * slots
            conversation = {"sender": f"{run_id}-{k}", "script": k % len(scripts)}
            conversations.append(conversation)
            await converse(session, url, conversation["sender"], scripts[conversation["script"]],
                           timeout, record, on_message)

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(slot(i) for i in range(slots)))
    return {"record": record, "seconds": time.perf_counter() - start,
            "conversations": conversations}


def tracker_events(url: str, senders: Sequence[str]) -> Dict[str, List[Dict[str, Any]]]:
    """{sender: the events of its tracker}, read from the server."""
    events = {}
    for sender in senders:
        with urllib.request.urlopen(f"{url}/conversations/{sender}/tracker", timeout=60) as r:
            events[sender] = json.loads(r.read())["events"]
    return events


def predicted_by(events_by_sender: Dict[str, List[Dict[str, Any]]]) -> Dict[str, int]:
    """How many of the bot's actions each policy predicted, over the conversations' events."""
    counts: Counter = Counter()
    for events in events_by_sender.values():
        for event in events:
            # actions without a policy are the session start's (action_session_start, listen)
            if event.get("event") == "action" and event.get("policy"):
                counts[re.sub(r"^policy_\d+_", "", event["policy"])] += 1
    return dict(counts.most_common())


def markdown(report: Dict[str, Any]) -> str:
    s, w, settings = report["load"], report["warmup"], report["settings"]
    lines = [f"# The example bot through `rasa run` under load ({report['date']})", "",
             f"Machine: {report['machine']['description']}. Model `{report['model']}`; "
             f"{settings['conversations']} conversations at once x {settings['rounds']} "
             f"round(s) of {settings['turns']}-message scripts (test stories and plain-language "
             "conversations of example_bot/tests/), posted to the REST webhook; "
             f"{settings['tracker_store']} tracker store.", "",
             "| phase | messages | errors | p50 ms | p99 ms | mean ms | max ms | messages/s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, part in (("warm-up (1 conversation)", w), ("load", s)):
        lines.append(f"| {name} | {part['messages']} | {part['errors']} | {part.get('p50_ms')} | "
                     f"{part.get('p99_ms')} | {part.get('mean_ms')} | {part.get('max_ms')} | "
                     f"{part.get('messages_per_second')} |")
    lines += ["", f"Conversations whose bot actions differ from their script held alone: "
              f"**{report['mismatched_replies']}** of {report['load_conversations']}.", ""]
    memory = report["memory_mb"]
    if memory:
        lines += ["Resident memory of `rasa run`: " + ", ".join(
            f"{m['mb']} MB after {m['messages']} messages" for m in memory)
            + (f" (last / first: {report['memory_growth']})" if report.get("memory_growth")
               else "") + ".", ""]
    lines += ["Bot actions by predicting policy (load phase): "
              + ", ".join(f"{k} {v}" for k, v in report["predicted_by"].items()), ""]
    if report["error_samples"]:
        lines += ["Errors (first few): " + "; ".join(report["error_samples"]), ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=50,
                        help="conversations held at the same time")
    parser.add_argument("--rounds", type=int, default=7,
                        help="conversations each concurrent slot holds one after another")
    parser.add_argument("--turns", type=int, default=30, help="messages per conversation")
    parser.add_argument("--max-seconds", type=float, default=1800.0,
                        help="no new conversation starts after this many seconds of load")
    parser.add_argument("--memory-at", type=int, nargs="*", default=[1000, 10000],
                        help="read the server's resident memory after these many messages")
    parser.add_argument("--tracker-store", choices=("sqlite", "memory"), default="sqlite")
    parser.add_argument("--model", type=Path, default=None,
                        help="a trained example-bot model (default: newest in example_bot/models, "
                             "trained first if there is none)")
    parser.add_argument("--stories", type=Path, default=BOT / "tests" / "test_stories.yml")
    parser.add_argument("--plain", type=Path, default=BOT / "tests" / "conversations.yml",
                        help="plain-language conversations (their `turns`)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per message")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--logs", type=Path, default=WORK, help="where the servers' logs go")
    args = parser.parse_args(argv)
    if min(args.conversations, args.rounds, args.turns) < 1:
        parser.error("--conversations, --rounds and --turns must be at least 1")
    # SIGTERM ends the run like Ctrl-C: the servers are stopped on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    model = (args.model.resolve() if args.model else newest_model(BOT / "models")
             or train_example_bot())
    sources = [c["messages"] for c in conversations_from_stories(args.stories)]
    sources += [c["turns"] for c in yaml.safe_load(args.plain.read_text())["conversations"]]
    scripts = scripts_from(sources, args.turns)
    started = datetime.datetime.now().astimezone()
    run_id = started.strftime("%H%M%S")
    memory: List[Dict[str, Any]] = []
    with Servers(model, args.logs, args.tracker_store) as servers:
        print(f"servers up: rasa {servers.url}, actions port {servers.actions_port}", flush=True)
        warm = asyncio.run(load(servers.url, scripts[:1], 1, 1, args.timeout,
                                f"warmup-{run_id}"))
        marks = sorted(args.memory_at)

        def on_message(count: int) -> None:
            while marks and count >= marks[0]:
                memory.append({"messages": marks.pop(0),
                               "mb": round(rss_bytes(servers.rasa_pid) / 2**20, 1)})

        result = asyncio.run(load(servers.url, scripts, args.conversations, args.rounds,
                                  args.timeout, f"load-{run_id}", args.max_seconds,
                                  on_message))
        memory.append({"messages": len(result["record"]),
                       "mb": round(rss_bytes(servers.rasa_pid) / 2**20, 1)})
        print(f"load done: {len(result['record'])} messages; holding each script alone",
              flush=True)
        used = sorted({c["script"] for c in result["conversations"]})
        alone_senders = {j: asyncio.run(load(servers.url, [scripts[j]], 1, 1, args.timeout,
                                             f"alone-{run_id}-{j}"))["conversations"][0]["sender"]
                         for j in used}
        alone_events = tracker_events(servers.url, list(alone_senders.values()))
        alone = {j: bot_actions(alone_events[sender]) for j, sender in alone_senders.items()}
        events = tracker_events(servers.url, [c["sender"] for c in result["conversations"]])
    actions = {sender: bot_actions(e) for sender, e in events.items()}
    different = mismatched(result["conversations"], actions, alone)
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
                     "turns": args.turns, "max_seconds": args.max_seconds,
                     "stories": str(args.stories), "plain": str(args.plain),
                     "scripts": len(scripts), "timeout_s": args.timeout,
                     "tracker_store": args.tracker_store},
        "warmup": summarize(warm_ok, warm["seconds"],
                            sum("error" in e for e in warm["record"])),
        "load": summarize(ok, result["seconds"], len(errors)),
        "load_conversations": len(result["conversations"]),
        "mismatched_replies": len(different),
        "mismatched_senders": different[:20],
        "mismatch_samples": [first_difference(actions.get(c["sender"]), alone[c["script"]],
                                              c) for c in result["conversations"]
                             if c["sender"] in different[:5]],
        "memory_mb": memory,
        "memory_growth": (round(memory[-1]["mb"] / memory[0]["mb"], 3)
                          if len(memory) > 1 and memory[0]["mb"] else None),
        "empty_replies": sum(bool(e.get("empty")) for e in result["record"]),
        "per_turn_p50_ms": _per_turn(result["record"]),
        "predicted_by": predicted_by(events),
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
