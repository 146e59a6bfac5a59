"""What the example bot's integration tests share: its model (trained once per session), and
servers started on free loopback ports."""
import contextlib
import fcntl
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

from tests.bench_scripts import bench_module

ROOT = Path(__file__).resolve().parents[2]
BOT = ROOT / "example_bot"
RASA = str(Path(sys.executable).with_name("rasa"))
ENV = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "LOG_LEVEL": "WARNING",
       "VENV": str(Path(RASA).parents[1])}


def run(args, cwd=BOT, timeout=1500):
    result = subprocess.run(args, cwd=cwd, env=ENV, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="session")
def model(tmp_path_factory):
    """The example bot trained with `rasa train` (NLU and dialogue, the top-level config.yml),
    once per test run: with pytest-xdist the first worker to ask trains it, under a file lock
    in the run's shared temporary directory, and the others wait for it and reuse it."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    out = shared / "example_bot_model"
    with open(shared / "example_bot_model.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        models = sorted(out.glob("*.tar.gz"))
        if not models:
            run([RASA, "train", "--config", str(ROOT / "config.yml"), "--domain", "domain.yml",
                 "--data", "data", "--out", str(out)])
            models = sorted(out.glob("*.tar.gz"))
    assert len(models) == 1
    return models[0]


@pytest.fixture(scope="session")
def server(model, tmp_path_factory):
    """One `rasa run` of the example bot with its action server and an SQLite tracker store,
    shared by the tests that talk to one server: (URL, the database file)."""
    directory = tmp_path_factory.mktemp("server")
    database = directory / "tracker.db"
    stores = {"tracker_store": {"type": "SQL", "dialect": "sqlite", "db": str(database)}}
    with bot_servers(model, stores, 1, directory) as (urls, _):
        yield urls[0], database


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url, process, seconds=300, log=None):
    """Waits until url answers, while process runs; the process's output (or the log file it
    writes to) is in the error if it exits or the wait times out."""
    def output():
        return log.read_text()[-3000:] if log else process.stdout.read()[-3000:]

    deadline = time.time() + seconds
    while time.time() < deadline:
        assert process.poll() is None, f"{process.args[0]} exited: {output()}"
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"{url}: {output() if log else ''}")


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


def start(args, cwd=BOT):
    return subprocess.Popen(args, cwd=cwd, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def stop(processes):
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def action_server():
    """An action server for the example bot: (process, its webhook URL)."""
    port = free_port()
    process = start(["bash", str(ROOT / "scripts" / "run_actions.sh"), str(port)])
    wait_for(f"http://127.0.0.1:{port}/health", process)
    return process, f"http://127.0.0.1:{port}/webhook"


def rasa_servers(model, endpoints, count):
    """count `rasa run` servers of model with the endpoints file, started side by side:
    (processes, their base URLs)."""
    ports = [free_port() for _ in range(count)]
    processes = [start([RASA, "run", "-m", str(model), "--enable-api", "--port", str(port),
                        "--credentials", "credentials.yml", "--endpoints", str(endpoints)])
                 for port in ports]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for url, process in zip(urls, processes):
            wait_for(f"{url}/status", process)
    except BaseException:
        stop(processes)
        raise
    return processes, urls


@contextlib.contextmanager
def bot_servers(model, stores, count, directory):
    """count `rasa run` servers of model and one action server, with the endpoints entries in
    stores (tracker store, lock store) written to directory/endpoints.yml: yields
    (base URLs, rasa processes), and stops them all after."""
    actions, webhook = action_server()
    endpoints = Path(directory) / "endpoints.yml"
    endpoints.write_text(yaml.safe_dump({"action_endpoint": {"url": webhook}, **stores}))
    try:
        processes, urls = rasa_servers(model, endpoints, count)
    except BaseException:
        stop([actions])
        raise
    try:
        yield urls, processes
    finally:
        stop(processes + [actions])


def tracker(url, sender):
    with urllib.request.urlopen(f"{url}/conversations/{sender}/tracker", timeout=60) as response:
        return json.loads(response.read())


# the actions the bot took, in order (action_listen included), from a tracker's events
bot_actions = bench_module("rest_load").bot_actions


def say(url, sender, message):
    """The names of the responses the bot replies to message with."""
    replies = post(f"{url}/webhooks/rest/webhook", {"sender": sender, "message": message})
    return response_names([r.get("text", "") for r in replies])


# (user message, the bot responses expected in reply, in order)
# The digressions inside the hotel form are the dialogue policy's to answer (the form rejects
# them) and to bring the conversation back from (it runs the form again).
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
