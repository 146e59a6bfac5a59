"""The pure parts of the latency benchmarks (bench/latency.py, bench/rest_load.py): the trackers
have exactly the turns asked for, percentiles and the JSON / markdown aggregation. No training."""
import json
import os
import subprocess
import sys
import time

import pytest
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from tests.bench_scripts import BENCH, bench_module
from tests.digression_bot import DOMAIN_YAML, stories, task_story

latency = bench_module("latency")
rest_load = bench_module("rest_load")


@pytest.fixture(scope="module")
def domain():
    from rasa.shared.core.domain import Domain

    return Domain.from_yaml(DOMAIN_YAML)


@pytest.fixture(scope="module")
def story_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("latency") / "stories.yml"
    # file order: restaurant (2 digressions) first, then hotel (0)
    path.write_text(stories(task_story("restaurant", 2, "first"), task_story("hotel", 0, "second")))
    return path


@pytest.fixture(scope="module")
def turns(domain, story_file):
    return latency.story_turns(domain, story_file)


def test_story_turns_start_with_the_user_and_end_listening_in_file_order(turns):
    # restaurant: request, 2 chitchats, inform, explain, inform; hotel: request, inform, explain,
    # inform
    assert len(turns) == 6 + 4
    for turn in turns:
        assert isinstance(turn[0], UserUttered)
        assert sum(isinstance(e, UserUttered) for e in turn) == 1
        assert isinstance(turn[-1], ActionExecuted) and turn[-1].action_name == ACTION_LISTEN_NAME
    assert turns[0][0].intent["name"] == "request_restaurant"
    assert turns[6][0].intent["name"] == "request_hotel"
    # the slot the last user message sets stays in its turn, before the bot's action
    assert isinstance(turns[5][1], SlotSet)


def test_split_turns_adds_the_missing_final_listen():
    events = [ActionExecuted(ACTION_LISTEN_NAME), UserUttered(intent={"name": "greet"}),
              ActionExecuted("utter_greet")]
    [turn] = latency.split_turns(events)
    assert [getattr(e, "action_name", None) for e in turn] == [None, "utter_greet",
                                                                ACTION_LISTEN_NAME]


@pytest.mark.parametrize("length", [1, 2, 10, 50, 200, 1000])
def test_trackers_have_exactly_the_turns_asked_for(length, turns, domain):
    for events in (latency.tracker_events(turns, length), latency.chitchat_events(length)):
        assert latency.count_turns(events) == length
        tracker = DialogueStateTracker.from_events("t", events, slots=domain.slots)
        applied = tracker.applied_events()
        assert sum(isinstance(e, UserUttered) for e in applied) == length
        # awaiting the bot's reply to the last user message
        assert tracker.latest_action_name == ACTION_LISTEN_NAME
        assert not isinstance(applied[-1], ActionExecuted)
        # every earlier turn is complete: one bot action at least, then listen
        listens = [e for e in applied if isinstance(e, ActionExecuted)
                   and e.action_name == ACTION_LISTEN_NAME]
        assert len(listens) == length  # the session's first listen and one per whole turn


@pytest.mark.parametrize("length", [1, 2, 10])
def test_the_previous_prediction_is_before_the_listen_that_ended_the_previous_turn(length,
                                                                                   turns):
    events = latency.tracker_events(turns, length)
    before = latency.previous_prediction(events)
    assert events[:len(before)] == before
    assert latency.count_turns(before) == length - 1
    # what is new at turn N: the listen ending turn N - 1, the N-th message and what it set
    new = events[len(before):]
    assert isinstance(new[0], ActionExecuted) and new[0].action_name == ACTION_LISTEN_NAME
    assert sum(isinstance(e, ActionExecuted) for e in new) == 1
    assert latency.previous_prediction([]) == []


def test_stories_trackers_cycle_through_the_stories(turns):
    events = latency.tracker_events(turns, len(turns) + 1)
    users = [e for e in events if isinstance(e, UserUttered)]
    assert users[len(turns)].intent["name"] == users[0].intent["name"] == "request_restaurant"


def test_chitchat_trackers_are_one_request_then_chitchat():
    users = [e.intent["name"] for e in latency.chitchat_events(5) if isinstance(e, UserUttered)]
    assert users == ["request_hotel"] + ["chitchat"] * 4


def test_percentiles():
    stats = latency.percentiles(range(1, 101))
    assert stats["p50_ms"] == pytest.approx(50.5)
    assert stats["p99_ms"] == pytest.approx(99.01)
    assert stats["calls"] == 100
    assert latency.percentiles([])["calls"] == 0


def _worker_result(p50s, kinds=("stories", "chitchat")):
    cells = {kind: {str(n): {"p50_ms": p, "p99_ms": 2 * p, "mean_ms": p, "calls": 50,
                             "first_call_ms": 10 * p, "states": n}
                    for n, p in zip([10, 50, 200, 1000], p50s)} for kind in kinds}
    return {"model": {"source": "--model", "path": "m.tar.gz", "epochs": 5}, "cells": cells,
            "peak_rss_mb": 700.0, "rss_after_load_mb": 600.0, "load_seconds": 1.0}


def test_aggregate_targets_markdown_and_json(tmp_path):
    lengths = [10, 50, 200, 1000]
    workers = {"NTMPolicy": _worker_result([1, 2, 10, 50]),
               "TEDPolicy": _worker_result([9.4, 12.9, 22.5, 68.5]),
               "REDPPolicy": {"error": "ImportError: no REDPPolicy", "model": None}}
    policies = latency.aggregate(workers, lengths, ["stories", "chitchat"])
    ntm = policies["NTMPolicy"]
    assert ntm["p50_ms"] == [1, 2, 10, 50] and ntm["p99_ms"] == [2, 4, 20, 100]
    assert ntm["p50_ms_chitchat"] == [1, 2, 10, 50] and ntm["calls"] == [50] * 4
    assert ntm["peak_rss_mb"] == 700.0 and "restored_states" not in ntm
    assert policies["REDPPolicy"]["error"].startswith("ImportError")
    targets = latency.check_targets(policies, lengths, "stories")
    assert targets == {"ntm_p50_at_or_below_ted": True, "ntm_p50_200_under_15ms": True,
                       "ntm_p50_1000_over_200": 5.0, "ntm_p50_1000_at_most_5.5x_200": True}
    policies["TEDPolicy_max_history_10"] = latency.aggregate(
        {"T": _worker_result([9.4, 12.9, 9.0, 68.5])}, lengths, ["stories"])["T"]
    against_both = latency.check_targets(policies, lengths, "stories")
    assert against_both["ntm_p50_at_or_below_ted"] is True
    assert against_both["ntm_p50_at_or_below_TEDPolicy_max_history_10"] is False
    del policies["TEDPolicy_max_history_10"]
    ntm["policy_ms"] = [2.0, 2.5, 3.0, 5.0]
    own = latency.check_targets(policies, lengths, "stories")
    assert own["ntm_policy_ms_1000_over_10"] == 2.5
    assert own["ntm_policy_ms_1000_at_most_2x_10"] is False
    report = {"lengths": lengths, "policies": policies, "kinds": ["stories", "chitchat"],
              "tracker_kind": latency.TRACKER_KINDS, "date": "today",
              "machine": {"description": "test"},
              "targets": {"stories": targets, "chitchat": None}}
    text = latency.markdown(report)
    assert "| NTMPolicy | 1.0 / 2.0 | 2.0 / 4.0 | 10.0 / 20.0 | 50.0 / 100.0 |" in text
    assert "error: ImportError" in text
    json.dumps(report)  # serialisable as it is
    latency.plot(report, tmp_path / "latency.png")
    assert (tmp_path / "latency.png").stat().st_size > 0


def test_rest_load_conversations_and_summary():
    assert rest_load.plain_text("[Rome](location) from [monday](startdate)") == \
        "Rome from monday"
    assert rest_load.plain_text('[cheap]{"entity": "price"} please') == "cheap please"
    conversations = rest_load.conversations_from_stories(
        BENCH.parent / "example_bot" / "tests" / "test_stories.yml")
    assert len(conversations) >= 16
    assert all(c["messages"] and not any("](" in m for m in c["messages"])
               for c in conversations)
    stats = rest_load.summarize([10.0, 20.0, 30.0, 40.0], seconds=2.0, errors=1)
    assert stats["messages"] == 4 and stats["errors"] == 1
    assert stats["p50_ms"] == 25.0 and stats["messages_per_second"] == 2.0
    assert rest_load._per_turn([{"turn": 0, "ms": 1.0}, {"turn": 0, "ms": 3.0},
                                {"turn": 1, "ms": 5.0}, {"turn": 1, "ms": 9.0, "error": "x"}]) \
        == [2.0, 5.0]


def test_rest_load_scripts_are_the_sources_one_after_another_cut_at_the_turns():
    sources = [["a1", "a2"], [], ["b1"], ["c1", "c2", "c3"]]
    scripts = rest_load.scripts_from(sources, 4)
    # one per source with messages, each from its own starting point, round the list
    assert scripts == [["a1", "a2", "b1", "c1"], ["b1", "c1", "c2", "c3"],
                       ["c1", "c2", "c3", "a1"]]
    assert rest_load.scripts_from(sources, 1) == [["a1"], ["b1"], ["c1"]]
    assert rest_load.scripts_from([["a"]], 3) == [["a", "a", "a"]]
    assert rest_load.scripts_from([[], []], 5) == [] == rest_load.scripts_from(sources, 0)


def test_rest_load_counts_the_conversations_whose_actions_differ_from_alone():
    events = [{"event": "action", "name": "action_session_start"},
              {"event": "user", "text": "hi"}, {"event": "action", "name": "utter_greet"},
              {"event": "slot", "name": "x"}, {"event": "action", "name": "action_listen"}]
    assert rest_load.bot_actions(events) == ["action_session_start", "utter_greet",
                                             "action_listen"]
    alone = {0: ["a", "b"], 1: ["c"]}
    conversations = [{"sender": "s0", "script": 0}, {"sender": "s1", "script": 1},
                     {"sender": "s2", "script": 0}, {"sender": "s3", "script": 1}]
    actions = {"s0": ["a", "b"], "s1": ["c"], "s2": ["a", "c"]}  # s3 has no tracker
    assert rest_load.mismatched(conversations, actions, alone) == ["s2", "s3"]
    assert rest_load.mismatched(conversations[:2], actions, alone) == []
    assert rest_load.first_difference(["x", "a", "b", "c"], ["x", "a", "d"], {"sender": "s"}) \
        == {"sender": "s", "at": 2, "loaded": ["x", "a", "b", "c"], "alone": ["x", "a", "d"]}
    assert rest_load.first_difference(None, ["a"], {})["at"] == 0


def test_rest_load_reads_the_resident_memory_of_a_process_and_its_children():
    own = rest_load.rss_bytes(os.getpid())
    assert own > 10 * 2**20  # this process has pytest and numpy loaded
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        for _ in range(50):  # until the child has started
            with_child = rest_load.rss_bytes(os.getpid())
            if with_child > own + 2**20:
                break
            time.sleep(0.1)
        assert with_child > own + 2**20
    finally:
        child.kill()
        child.wait()
    assert rest_load.rss_bytes(child.pid) == 0  # gone


def test_rest_load_servers_refuse_an_unknown_tracker_store(tmp_path):
    with pytest.raises(ValueError, match="tracker_store"):
        rest_load.Servers(tmp_path / "model.tar.gz", tmp_path, "redis")


def test_default_model_is_the_redp_benchmarks_full_data_model_of_the_same_options(tmp_path,
                                                                                    monkeypatch):
    monkeypatch.setattr(latency, "ROOT", tmp_path)
    redp = tmp_path / "bench" / "work" / "redp"
    assert latency.default_model_path("TEDPolicy") is None
    ted, ntm = latency.benchmark_key("TEDPolicy"), latency.benchmark_key("NTMPolicy")
    assert ted.startswith("TEDPolicy-") and ntm.startswith("NTMPolicy-")
    # the key is the benchmark's: NTMPolicy's defaults are part of it
    monkeypatch.setitem(latency.POLICY_CONFIGS, "NTMPolicy",
                        {**latency.POLICY_CONFIGS["NTMPolicy"], "memory_slots": 64})
    assert latency.benchmark_key("NTMPolicy") == ntm  # 64 is the default
    monkeypatch.setitem(latency.POLICY_CONFIGS, "NTMPolicy", {"name": "rasa_ntm_policy.NTMPolicy",
                                                              "memory_slots": 32})
    assert latency.benchmark_key("NTMPolicy") != ntm
    for folder in (ted, "TEDPolicy-00000000", latency.benchmark_key("TEDPolicy_unlimited")):
        for cell in ("p0_run2", "p0_run1", "p25_run1"):
            (redp / folder / cell).mkdir(parents=True)
            (redp / folder / cell / "model.tar.gz").write_text("")
    assert latency.default_model_path("TEDPolicy") == redp / ted / "p0_run1/model.tar.gz"
    assert latency.default_model_path("TEDPolicy_unlimited") == \
        redp / latency.benchmark_key("TEDPolicy_unlimited") / "p0_run1/model.tar.gz"
    assert latency.default_model_path("NTMPolicy") is None
