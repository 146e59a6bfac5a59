"""The example bot holds plain-language conversations over the REST channel (a `rasa run`
server and the action server) and runs every search with what the person said.

The conversations are example_bot/tests/conversations.yml; bench/example_bot_conversations.py
holds the same ones with TEDPolicy in NTMPolicy's place."""
import pytest

from tests.bench_scripts import bench_module
from tests.integration.conftest import CONVERSATION, say, tracker

conversations = bench_module("example_bot_conversations")
CONVERSATIONS = conversations.load_conversations()


@pytest.mark.slow  # trains the example bot with `rasa train`
@pytest.mark.parametrize("conversation", CONVERSATIONS,
                         ids=[c["name"] for c in CONVERSATIONS])
def test_every_search_runs_with_what_the_person_said(server, conversation):
    url, _ = server
    events = conversations.hold(url, "rest-" + conversation["name"].replace(" ", "-"),
                                conversation["turns"])
    assert conversations.searches_in(events) == conversation["searches"], "\n".join(
        conversations.bot_texts(events))


@pytest.mark.slow  # trains the example bot with `rasa train`
def test_a_conversation_over_rest_digresses_and_returns_to_the_task(server):
    url, database = server
    sender = "ci-user"
    for message, expected in CONVERSATION:
        assert say(url, sender, message) == expected, message
    # the conversation is in the SQLite tracker store
    events = tracker(url, sender)["events"]
    assert sum(e["event"] == "user" for e in events) == len(CONVERSATION)
    policies = [e.get("policy") or "" for e in events if e["event"] == "action"]
    assert any("NTMPolicy" in p for p in policies), policies
    assert database.exists() and database.stat().st_size > 0


def test_searches_are_read_from_the_tracker_at_the_moment_they_run():
    events = [{"event": "slot", "name": "location", "value": "Rome"},
              {"event": "slot", "name": "people", "value": 2},
              {"event": "action", "name": "action_search_restaurant"},
              {"event": "slot", "name": "cuisine", "value": "thai"},
              {"event": "action", "name": "action_search_restaurant"},
              {"event": "restart"},
              {"event": "action", "name": "action_search_hotel"}]
    found = conversations.searches_in(events)
    assert [s["slots"].get("cuisine") for s in found[:2]] == [None, "thai"]
    assert found[0]["slots"]["people"] == "2"
    assert found[2] == {"action": "action_search_hotel",
                        "slots": dict.fromkeys(conversations.SEARCH_DETAILS[
                            "action_search_hotel"])}
