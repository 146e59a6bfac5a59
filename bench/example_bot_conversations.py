"""The example bot's plain-language conversations, with NTMPolicy and with TEDPolicy in its place.

For each dialogue policy (NTMPolicy: the top-level config.yml as it is; TEDPolicy: the same
config with TEDPolicy as `rasa init` sets it up, max_history 5 and 100 epochs, in NTMPolicy's
place, everything else equal) the
example bot is trained with `rasa train`, served with its action server (as
bench/rest_load.py does, an in-memory tracker store), and every conversation of
example_bot/tests/conversations.yml is held over the REST channel, one message after the
reply to the previous. A conversation is right when the searches the bot ran, read from its
tracker, are those the file lists: same search actions in the same order, every detail
holding what the person said last about it.

Writes bench/results/example_bot_conversations.json and .md: per policy, how many
conversations are right, by kind (digressions, correction, task switch, ...), the wrong
ones with the searches they ran, and the training seconds.

  .venv/bin/python bench/example_bot_conversations.py                  # both policies
  .venv/bin/python bench/example_bot_conversations.py --policies NTMPolicy \
      --model example_bot/models/X.tar.gz
"""
import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rest_load import ENV, RASA, Servers, newest_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BOT = ROOT / "example_bot"
RESULTS = ROOT / "bench" / "results"
WORK = ROOT / "bench" / "work" / "example_bot_conversations"
CONVERSATIONS = BOT / "tests" / "conversations.yml"
SEARCH_DETAILS = {"action_search_hotel": ("location", "startdate", "enddate", "people", "price"),
                  "action_search_restaurant": ("location", "cuisine", "people", "price")}
NTM_POLICY = "rasa_ntm_policy.NTMPolicy"
# TEDPolicy as `rasa init` configures it (Rasa's own default of 1 epoch would be no comparison)
TED = {"name": "TEDPolicy", "max_history": 5, "epochs": 100}


def load_conversations(path: Path = CONVERSATIONS) -> List[Dict[str, Any]]:
    """The conversations of path: dicts with name, kind, turns and searches."""
    conversations = yaml.safe_load(path.read_text())["conversations"]
    for conversation in conversations:
        unquoted = [turn for turn in conversation["turns"] if not isinstance(turn, str)]
        if unquoted:
            raise ValueError(f"{path}: conversation {conversation['name']!r} has messages YAML "
                             f"read as {unquoted}: quote them")
        for search in conversation["searches"]:
            search["slots"] = {k: str(v) for k, v in search["slots"].items()}
    return conversations


def searches_in(events: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The searches a conversation's tracker events record: for each search action run, in
    order, {"action": name, "slots": the values of the details it searches with, as strings
    (None where not set), at the moment it ran}."""
    slots: Dict[str, Any] = {}
    found = []
    for event in events:
        if event.get("event") == "slot":
            slots[event["name"]] = event.get("value")
        elif event.get("event") in ("restart", "session_started"):
            slots = {}
        elif event.get("event") == "action" and event.get("name") in SEARCH_DETAILS:
            details = SEARCH_DETAILS[event["name"]]
            found.append({"action": event["name"],
                          "slots": {d: None if slots.get(d) is None else str(slots[d])
                                    for d in details}})
    return found


def post(url: str, payload: Dict[str, Any], timeout: float = 120) -> Any:
    request = urllib.request.Request(url, json.dumps(payload).encode(),
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def hold(url: str, sender: str, turns: Sequence[str]) -> List[Dict[str, Any]]:
    """Holds a conversation over the REST channel of the server at url: its tracker events."""
    for message in turns:
        post(f"{url}/webhooks/rest/webhook", {"sender": sender, "message": message})
    with urllib.request.urlopen(f"{url}/conversations/{sender}/tracker", timeout=60) as reply:
        return json.loads(reply.read())["events"]


def bot_texts(events: Sequence[Dict[str, Any]]) -> List[str]:
    """Who said what, for a report: "user: ..." and "bot: ..." lines."""
    lines = []
    for event in events:
        if event.get("event") == "user":
            lines.append(f"user: {event.get('text')}")
        elif event.get("event") == "bot":
            lines.append(f"bot: {event.get('text')}")
    return lines


def check(url: str, conversations: Sequence[Dict[str, Any]], prefix: str) -> List[Dict[str, Any]]:
    """Holds every conversation: one record each (name, kind, right, the searches it ran)."""
    records = []
    for index, conversation in enumerate(conversations):
        events = hold(url, f"{prefix}-{index}", conversation["turns"])
        ran = searches_in(events)
        records.append({"name": conversation["name"], "kind": conversation["kind"],
                        "right": ran == conversation["searches"], "searches": ran,
                        "transcript": bot_texts(events)})
    return records


def config_with(policy: str) -> Dict[str, Any]:
    """The top-level config.yml, with `policy` (a class name) in NTMPolicy's place."""
    config = yaml.safe_load((ROOT / "config.yml").read_text())
    if policy != "NTMPolicy":
        replacement = TED if policy == "TEDPolicy" else {"name": policy}
        config["policies"] = [replacement if p["name"] == NTM_POLICY else p
                              for p in config["policies"]]
    return config


def train(policy: str, work: Path) -> Dict[str, Any]:
    """Trains the example bot with policy in NTMPolicy's place: {model, seconds}."""
    work.mkdir(parents=True, exist_ok=True)
    config = work / "config.yml"
    config.write_text(yaml.safe_dump(config_with(policy), sort_keys=False))
    env = {**ENV, "RASA_CACHE_DIRECTORY": str(work / "cache")}
    started = time.time()
    subprocess.run([RASA, "train", "--config", str(config), "--domain", "domain.yml",
                    "--data", "data", "--out", str(work / "models")], cwd=BOT, env=env,
                   check=True)
    return {"model": str(newest_model(work / "models")), "seconds": time.time() - started}


def summary(records: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    kinds = Counter(r["kind"] for r in records)
    right = Counter(r["kind"] for r in records if r["right"])
    return {"right": sum(r["right"] for r in records), "total": len(records),
            "by_kind": {kind: f"{right[kind]}/{count}" for kind, count in kinds.items()}}


def previous_policies(conversations: int) -> Dict[str, Any]:
    """The policies of the last report, where it held as many conversations: a run of one
    policy keeps the other's figures."""
    path = RESULTS / "example_bot_conversations.json"
    if not path.exists():
        return {}
    previous = json.loads(path.read_text())
    if previous.get("settings", {}).get("conversations") != conversations:
        return {}
    return previous.get("policies", {})


def markdown(report: Dict[str, Any]) -> str:
    policies = report["policies"]
    kinds = list(next(iter(policies.values()))["summary"]["by_kind"])
    lines = ["# The example bot's conversations, NTMPolicy against TEDPolicy", "",
             f"{report['settings']['conversations']} conversations of "
             "`example_bot/tests/conversations.yml` over the REST channel; right = every "
             "search ran with what the person said, and no other search ran.", "",
             "| policy | right | " + " | ".join(kinds) + " | training s |",
             "| --- | --- | " + " | ".join("---" for _ in kinds) + " | --- |"]
    for name, result in policies.items():
        s = result["summary"]
        seconds = result.get("training_seconds")
        lines.append(f"| {name} | {s['right']}/{s['total']} | "
                     + " | ".join(s["by_kind"][k] for k in kinds)
                     + f" | {'' if seconds is None else round(seconds)} |")
    lines += ["", "Commands: " + "; ".join(f"{name}: `{result['command']}`"
                                          for name, result in policies.items()) + "."]
    for name, result in policies.items():
        wrong = [r for r in result["records"] if not r["right"]]
        if wrong:
            lines += ["", f"## {name}: wrong conversations", ""]
            for record in wrong:
                lines.append(f"- {record['name']}: ran {json.dumps(record['searches'])}")
    return "\n".join(lines) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--policies", nargs="+", default=["NTMPolicy", "TEDPolicy"])
    parser.add_argument("--model", type=Path, help="a trained model (with one policy only)")
    args = parser.parse_args(argv)
    if args.model and len(args.policies) != 1:
        parser.error("--model serves one policy: name it with --policies")
    conversations = load_conversations()
    command = "python bench/example_bot_conversations.py " + " ".join(
        str(a) for a in (argv if argv is not None else sys.argv[1:]))
    report: Dict[str, Any] = {"settings": {"conversations": len(conversations)},
                              "policies": previous_policies(len(conversations))}
    for policy in args.policies:
        work = WORK / policy
        trained = ({"model": str(args.model), "seconds": None} if args.model
                   else train(policy, work))
        print(f"{policy}: holding {len(conversations)} conversations", flush=True)
        with Servers(Path(trained["model"]), work / "logs") as servers:
            records = check(servers.url, conversations, policy)
        report["policies"][policy] = {"summary": summary(records), "command": command,
                                      "training_seconds": trained["seconds"],
                                      "records": records}
        print(policy, report["policies"][policy]["summary"], flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "example_bot_conversations.json").write_text(json.dumps(report, indent=1))
    (RESULTS / "example_bot_conversations.md").write_text(markdown(report))
    print(markdown(report))
    return report


if __name__ == "__main__":
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    main()
