"""Scale-out: two `rasa run` servers of the example bot share a PostgreSQL tracker store and a
Redis lock store (Rasa's setup behind a load balancer), with the real engines on loopback,
started by scripts/services.sh. NTMPolicy keeps no conversation state in the process, so any
server can answer any turn: conversations whose turns alternate between the servers, several
at once, and one whose server is killed halfway, get the replies of the conversation held
alone on one server.
"""
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.conftest import CONVERSATION, ROOT, bot_actions, bot_servers, say, tracker

pytestmark = pytest.mark.slow  # trains the example bot and starts three servers

EXPECTED = [expected for _, expected in CONVERSATION]


@pytest.fixture(scope="module")
def stores():
    """The endpoints entries of the shared stores, once scripts/services.sh has started them."""
    subprocess.run([str(ROOT / "scripts" / "services.sh")], check=True, capture_output=True,
                   timeout=600)
    return {"tracker_store": {"type": "SQL", "dialect": "postgresql", "url": "127.0.0.1",
                              "port": 5432, "db": "rasa", "username": "rasa",
                              "password": "rasa"},
            "lock_store": {"type": "redis", "url": "127.0.0.1", "port": 6379, "db": 1}}


@pytest.fixture(scope="module")
def servers(model, stores, tmp_path_factory):
    """Two `rasa run` servers on the shared stores and one action server: their base URLs and
    processes. Shared by this module's tests; the last one kills a server."""
    with bot_servers(model, stores, 2, tmp_path_factory.mktemp("scale-out")) as (urls, processes):
        yield urls, processes


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
    assert bot_actions(one) == bot_actions(other) == bot_actions(tracker(urls[0], alone))
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
    urls, processes = servers
    sender, half = new_sender(), len(CONVERSATION) // 2
    replies = [say(urls[0], sender, message) for message, _ in CONVERSATION[:half]]
    processes[0].kill()
    processes[0].wait(timeout=30)
    replies += [say(urls[1], sender, message) for message, _ in CONVERSATION[half:]]
    assert replies == EXPECTED
