"""The example bot end to end: `rasa train`, `rasa test core`, and a conversation over REST.

Slow (it trains NLU and dialogue, a few minutes); run alone with `pytest tests/integration`.
"""
import json

import pytest

from tests.integration.conftest import CONVERSATION, RASA, bot_servers, run, say, tracker

pytestmark = pytest.mark.slow  # trains the example bot with `rasa train`


def test_every_test_story_is_right(model, tmp_path):
    run([RASA, "test", "core", "--stories", "tests/test_stories.yml", "-m", str(model),
         "--out", str(tmp_path)])
    report = json.loads((tmp_path / "story_report.json").read_text())
    accuracy = report["conversation_accuracy"]
    assert accuracy["total"] >= 20
    failed = (tmp_path / "failed_test_stories.yml")
    assert accuracy["correct"] == accuracy["total"], failed.read_text() if failed.exists() else ""


@pytest.fixture
def server(model, tmp_path):
    """One `rasa run` with its action server and an SQLite tracker store: (URL, database)."""
    database = tmp_path / "t.db"
    stores = {"tracker_store": {"type": "SQL", "dialect": "sqlite", "db": str(database)}}
    with bot_servers(model, stores, 1, tmp_path) as (urls, _):
        yield urls[0], database


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
