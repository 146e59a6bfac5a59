"""The example bot end to end: `rasa train`, `rasa test core`, and a conversation over REST.

Slow (it trains NLU and dialogue, a few minutes); run alone with `pytest tests/integration`.
"""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow  # trains the example bot with `rasa train`

ROOT = Path(__file__).resolve().parents[2]
BOT = ROOT / "example_bot"
RASA = str(Path(sys.executable).with_name("rasa"))
ENV = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "LOG_LEVEL": "WARNING"}


def run(args, cwd=BOT, timeout=1500):
    result = subprocess.run(args, cwd=cwd, env=ENV, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    out = tmp_path_factory.mktemp("models")
    run([RASA, "train", "--config", str(ROOT / "config.yml"), "--domain", "domain.yml",
         "--data", "data", "--out", str(out)])
    models = sorted(out.glob("*.tar.gz"))
    assert len(models) == 1
    return models[0]


def test_every_test_story_is_right(model, tmp_path):
    run([RASA, "test", "core", "--stories", "tests/test_stories.yml", "-m", str(model),
         "--out", str(tmp_path)])
    report = json.loads((tmp_path / "story_report.json").read_text())
    accuracy = report["conversation_accuracy"]
    assert accuracy["total"] >= 20
    failed = (tmp_path / "failed_test_stories.yml")
    assert accuracy["correct"] == accuracy["total"], failed.read_text() if failed.exists() else ""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url, process, seconds=300):
    deadline = time.time() + seconds
    while time.time() < deadline:
        assert process.poll() is None, f"server exited: {process.stdout.read()[-3000:]}"
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(1)
    raise TimeoutError(url)


def post(url, payload):
    request = urllib.request.Request(url, json.dumps(payload).encode(),
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def response_names(texts):
    """Bot texts -> the names of the responses they come from (with slot placeholders)."""
    responses = yaml.safe_load((BOT / "domain.yml").read_text())["responses"]
    names = []
    for text in texts:
        found = [name for name, variants in responses.items()
                 if any(text == v.get("text") or _matches_template(text, v.get("text", ""))
                        for v in variants)]
        names.append(found[0] if found else f"?{text}")
    return names


def _matches_template(text, template):
    if "{" not in template:
        return False
    head = template.split("{")[0]
    tail = template.rsplit("}", 1)[-1]
    return text.startswith(head) and text.endswith(tail)


@pytest.fixture
def servers(model, tmp_path):
    actions_port, rasa_port = free_port(), free_port()
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text(yaml.safe_dump({
        "action_endpoint": {"url": f"http://127.0.0.1:{actions_port}/webhook"},
        "tracker_store": {"type": "SQL", "dialect": "sqlite", "db": str(tmp_path / "t.db")}}))
    actions = subprocess.Popen([RASA, "run", "actions", "--actions", "actions", "--port",
                                str(actions_port)], cwd=BOT, env=ENV, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    rasa = subprocess.Popen([RASA, "run", "-m", str(model), "--enable-api", "--port",
                             str(rasa_port), "--credentials", "credentials.yml", "--endpoints",
                             str(endpoints)], cwd=BOT, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(f"http://127.0.0.1:{actions_port}/health", actions)
        wait_for(f"http://127.0.0.1:{rasa_port}/status", rasa)
        yield f"http://127.0.0.1:{rasa_port}", tmp_path / "t.db"
    finally:
        for process in (rasa, actions):
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


# (user message, the bot responses expected in reply, in order)
# The digressions come at the check-out question, a point no training story digresses at, so
# the dialogue policy (not memoization) has to bring the conversation back.
CONVERSATION = [
    ("I need a hotel in Rome", ["utter_ask_startdate"]),
    ("from tomorrow", ["utter_ask_enddate"]),
    ("tell me a joke", ["utter_chitchat", "utter_ask_enddate"]),
    ("did that work?", ["utter_more_info_hotel", "utter_ask_enddate"]),
    ("until sunday", ["utter_ask_people"]),
    ("we are 3", ["utter_ask_price"]),
    ("why do you need the price?", ["utter_explain_price_hotel", "utter_ask_price"]),
    ("cheap please", ["utter_filled_slots", "utter_suggest_hotel"]),
    ("yes please", ["utter_happy"]),
]


def test_a_conversation_over_rest_digresses_and_returns_to_the_task(servers):
    url, database = servers
    sender = "ci-user"
    for message, expected in CONVERSATION:
        replies = post(f"{url}/webhooks/rest/webhook", {"sender": sender, "message": message})
        got = response_names([r.get("text", "") for r in replies])
        assert got == expected, (message, [r.get("text") for r in replies])
    # the conversation is in the SQLite tracker store
    with urllib.request.urlopen(f"{url}/conversations/{sender}/tracker") as response:
        tracker = json.loads(response.read())
    assert sum(e["event"] == "user" for e in tracker["events"]) == len(CONVERSATION)
    policies = [e.get("policy") or "" for e in tracker["events"] if e["event"] == "action"]
    assert any("NTMPolicy" in p for p in policies), policies
    assert database.exists() and database.stat().st_size > 0
