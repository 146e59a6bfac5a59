"""Scale-out: two `rasa run` servers of the example bot share a PostgreSQL tracker store and a
Redis lock store (Rasa's setup behind a load balancer), with the real engines on loopback, all
started by scripts/run_cluster.sh with example_bot/endpoints.cluster.yml, as a user runs them.
NTMPolicy keeps no conversation state in the process, so any server can answer any turn:
conversations whose turns alternate between the servers, several at once, and one whose server
is killed halfway, get the replies of the conversation held alone on one server.
"""
import os
import signal
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.integration.conftest import (CONVERSATION, ENV, ROOT, bot_actions, free_port, say,
                                        tracker, wait_for)

pytestmark = pytest.mark.slow  # trains the example bot and starts three servers

EXPECTED = [expected for _, expected in CONVERSATION]


def server_pid(port):
    """The pid of the `rasa run` process started with --port port (from /proc, Linux)."""
    for entry in Path("/proc").iterdir():
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"run" in args and b"-m" in args and args[args.index(b"run") - 1].endswith(b"rasa") \
                and args[args.index(b"--port") + 1:][:1] == [str(port).encode()]:
            return int(entry.name)
    raise LookupError(f"no rasa run on port {port}")


@pytest.fixture(scope="module")
def servers(model, tmp_path_factory):
    """scripts/run_cluster.sh on free ports: the stores, an action server and two `rasa run`
    servers. Yields the servers' base URLs and ports; stops the script (and with it
    everything it started) after this module's tests, the last of which kills a server."""
    ports = [free_port(), free_port()]
    env = {**ENV, "ACTION_PORT": str(free_port()),
           "RASA_PORTS": " ".join(map(str, ports))}
    log = tmp_path_factory.mktemp("cluster") / "run_cluster.log"
    with open(log, "w") as out:
        process = subprocess.Popen([str(ROOT / "scripts" / "run_cluster.sh"), str(model)],
                                   env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for url in urls:
            wait_for(f"{url}/status", process, 600, log)
        yield urls, ports
    finally:
        process.terminate()  # the script stops its servers on the way out
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 143, log.read_text()[-3000:]
    for port in ports:  # nothing it started is left
        with pytest.raises(LookupError):
            server_pid(port)


def hold(urls, sender, first=0):
    """The conversation with each turn sent to the next server in turn: the replies."""
    return [say(urls[(first + i) % len(urls)], sender, message)
            for i, (message, _) in enumerate(CONVERSATION)]


def new_sender():
    return f"scale-out-{uuid.uuid4().hex}"


def test_alternate_turns_on_two_servers_get_the_replies_of_one(servers):
    urls, _ = servers
    alone, alternating = new_sender(), new_sender()
    assert hold(urls[:1], alone) == EXPECTED
    assert hold(urls, alternating) == EXPECTED
    # both servers read the same conversation from the tracker store
    one, other = (tracker(url, alternating) for url in urls)
    assert (bot_actions(one["events"]) == bot_actions(other["events"])
            == bot_actions(tracker(urls[0], alone)["events"]))
    assert sum(e["event"] == "user" for e in one["events"]) == len(CONVERSATION)


def test_conversations_at_once_on_both_servers_lose_nothing(servers):
    urls, _ = servers
    senders = [new_sender() for _ in range(6)]
    with ThreadPoolExecutor(len(senders)) as pool:
        replies = list(pool.map(lambda s: hold(urls, s[1], first=s[0] % 2), enumerate(senders)))
    mismatched = [s for s, r in zip(senders, replies) if r != EXPECTED]
    assert not mismatched, mismatched
    for sender in senders:
        events = tracker(urls[1], sender)["events"]
        assert sum(e["event"] == "user" for e in events) == len(CONVERSATION)


def test_a_server_killed_halfway_and_the_other_carries_on(servers):
    urls, ports = servers
    sender, half = new_sender(), len(CONVERSATION) // 2
    replies = [say(urls[0], sender, message) for message, _ in CONVERSATION[:half]]
    os.kill(server_pid(ports[0]), signal.SIGKILL)
    replies += [say(urls[1], sender, message) for message, _ in CONVERSATION[half:]]
    assert replies == EXPECTED
