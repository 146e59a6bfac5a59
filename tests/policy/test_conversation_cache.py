"""The per-conversation cache (rasa_ntm_policy/conversation_cache.py): what it returns equals
what is computed from scratch from Rasa's states, at every turn, after reverts, restarts,
session starts, folded form turns, hidden rule turns, and with two caches answering alternate
turns; it resumes where it can and stays within its bounds."""
from pathlib import Path

import numpy as np
import pytest
from rasa.core.training import load_data
from rasa.shared.core.events import (ActionExecuted, ActionExecutionRejected, ActionReverted,
                                     ActiveLoop, DefinePrevUserUtteredFeaturization,
                                     EntitiesAdded, Event, FollowupAction, LoopInterrupted,
                                     Restarted, SessionStarted, SlotSet, UserUttered,
                                     UserUtteranceReverted)
from rasa.shared.core.trackers import DialogueStateTracker

from rasa_ntm_policy import NTMPolicy
from rasa_ntm_policy.conversation_cache import ConversationCache, StateOptions
from rasa_ntm_policy.dialogue import NO_RESTORE, restore_indices
from rasa_ntm_policy.featurizer import DialogueFeaturizer
from rasa_ntm_policy.padding import bucket_length
from tests.rasa_helpers import create_policy, new_storage

BOT = Path(__file__).resolve().parents[2] / "example_bot"
RULE_ONLY = {"slots": ["requested_slot"], "loops": []}


@pytest.fixture(scope="module")
def policy(bot_domain, tmp_path_factory):
    """An untrained NTMPolicy: its featurizer and Rasa's states are all the cache uses."""
    policy = create_policy(NTMPolicy, {}, new_storage(tmp_path_factory.mktemp("cache")))
    policy.dialogue_featurizer = DialogueFeaturizer.from_domain(bot_domain, context_action=True)
    return policy


def from_scratch(policy, tracker, domain, rule_only_data):
    """[T, F] features and [T] restores as the policy computed them before the cache."""
    states = policy._prediction_states(tracker, domain, rule_only_data=rule_only_data) or [{}]
    return policy.dialogue_featurizer.encode_dialogue(states), restore_indices(states)


def new_cache(policy, **bounds):
    return ConversationCache(policy.dialogue_featurizer, restore_digressions=True,
                             options=StateOptions(), **bounds)


def prefixes(events):
    """The event lists a server holds when it predicts: up to each bot action and the end."""
    return [events[:i] for i, e in enumerate(events)
            if isinstance(e, ActionExecuted) and i > 0] + [events]


def assert_same(cache, policy, events, domain, sender="s", rule_only_data=RULE_ONLY):
    tracker = DialogueStateTracker.from_events(sender, events, slots=domain.slots)
    turns = cache.turns(tracker, domain, rule_only_data)
    features, restore = from_scratch(policy, tracker, domain, rule_only_data)
    np.testing.assert_array_equal(turns.features, features)
    np.testing.assert_array_equal(turns.restore, restore)


def test_every_turn_of_every_story_equals_the_computation_from_scratch(policy, stories,
                                                                       bot_domain):
    cache = new_cache(policy)
    for n, events in enumerate(stories):
        for prefix in prefixes(events):
            assert_same(cache, policy, prefix, bot_domain, sender=f"story-{n}")
    # one replay from scratch per story: the form turns Rasa folds resume from a snapshot
    assert cache.misses == len(stories) and cache.hits > 10 * len(stories)


def edits():
    """Lists of events to append to a conversation: reverts, restarts, sessions, follow-ups,
    hidden rule turns, a rule-activated form and a form's unhappy path (new objects each call)."""
    return [
        [UserUttered("hm", intent={"name": "chitchat", "confidence": 1.0}),
         UserUtteranceReverted()],
        [ActionExecuted("utter_chitchat"), ActionReverted()],
        [ActionExecuted("action_unlikely_intent"), ActionExecuted("action_listen")],
        [FollowupAction("utter_chitchat"), ActionExecuted("utter_chitchat")],
        [ActionExecuted("utter_greet", hide_rule_turn=True), ActionExecuted("action_listen"),
         UserUttered("hi", intent={"name": "greet", "confidence": 1.0})],
        # a whole rule turn hidden, the user's message inside it
        [ActionExecuted("action_listen", hide_rule_turn=True),
         UserUttered("thanks", intent={"name": "thank", "confidence": 1.0}),
         ActionExecuted("utter_welcome", hide_rule_turn=True), ActionExecuted("utter_chitchat"),
         ActionExecuted("action_listen")],
        [SlotSet("location", "Rome"), ActionExecuted("action_listen")],
        # a form activated by a rule (hidden), its own run and a follow-up after a hidden turn
        [ActionExecuted("action_listen"),
         UserUttered("hotel", intent={"name": "request_hotel", "confidence": 1.0}),
         DefinePrevUserUtteredFeaturization(False),
         ActionExecuted("hotel_form", hide_rule_turn=True), ActiveLoop("hotel_form"),
         SlotSet("requested_slot", "location"), ActionExecuted("action_listen",
                                                               hide_rule_turn=True),
         UserUttered("Rome", intent={"name": "inform", "confidence": 1.0},
                     entities=[{"entity": "location", "value": "Rome"}]),
         EntitiesAdded([{"entity": "location", "value": "Rome"}]),
         ActionExecuted("hotel_form"), SlotSet("location", "Rome"),
         ActionExecuted("utter_chitchat", hide_rule_turn=True), FollowupAction("hotel_form"),
         ActionExecuted("hotel_form")],
        # the form's unhappy path: rejected, interrupted, given up
        [ActionExecuted("action_listen"),
         UserUttered("joke", intent={"name": "chitchat", "confidence": 1.0}),
         ActionExecutionRejected("hotel_form"), ActionExecuted("utter_chitchat"),
         LoopInterrupted(True), ActionExecuted("hotel_form"), ActiveLoop(None),
         SlotSet("requested_slot", None)],
        [Restarted(), ActionExecuted("action_listen")],
        [ActionExecuted("action_session_start"), SessionStarted(),
         ActionExecuted("action_listen")],
    ]


def test_reverts_restarts_sessions_followups_and_hidden_rule_turns(policy, stories,
                                                                   bot_domain):
    events = list(stories[0])
    cache = new_cache(policy)
    for edit in edits():
        for event in edit:
            events.append(event)
            assert_same(cache, policy, events, bot_domain)
        for prefix in prefixes(stories[1])[::3]:  # more conversation after each edit
            assert_same(cache, policy, events + prefix, bot_domain)
        events = events + stories[1]


def from_store(events):
    """The events as a tracker store hands them back: new objects, read from their dicts."""
    return [Event.from_parameters(event.as_dict()) for event in events]


def test_two_caches_answering_alternate_turns_equal_one(policy, stories, bot_domain):
    """Two servers, each with its own cache, taking turns on one conversation that each reads
    from a tracker store."""
    servers = [new_cache(policy), new_cache(policy)]
    for i, prefix in enumerate(prefixes(stories[2] + stories[3])):
        assert_same(servers[i % 2], policy, from_store(prefix), bot_domain)
    assert all(server.hits > 0 for server in servers)


def test_an_event_changed_in_place_is_not_taken_from_the_cache(policy, stories, bot_domain):
    """The same timestamp with another intent, loop or slot value (a history rewritten through
    Rasa's API): the features are those of the rewritten history."""
    events = next(e for e in stories if any(isinstance(x, ActiveLoop) and x.name for x in e))
    featurized = {slot.name for slot in bot_domain.slots if slot.influence_conversation}

    def last(kind):
        return max(i for i, e in enumerate(events) if kind(e))

    changes = {
        last(lambda e: isinstance(e, UserUttered)): lambda e: UserUttered(
            e.text, intent={"name": "chitchat", "confidence": 1.0}, timestamp=e.timestamp),
        last(lambda e: isinstance(e, ActiveLoop) and e.name): lambda e: ActiveLoop(
            None, timestamp=e.timestamp),
        last(lambda e: isinstance(e, SlotSet) and e.key in featurized): lambda e: SlotSet(
            e.key, None if e.value else "x", timestamp=e.timestamp)}
    original = DialogueStateTracker.from_events("s", events, slots=bot_domain.slots)
    for at, change in changes.items():
        rewritten = events[:at] + [change(events[at])] + events[at + 1:]
        tracker = DialogueStateTracker.from_events("s", rewritten, slots=bot_domain.slots)
        # the change shows in the features, so a stale cache entry would be caught
        assert not np.array_equal(from_scratch(policy, tracker, bot_domain, RULE_ONLY)[0],
                                  from_scratch(policy, original, bot_domain, RULE_ONLY)[0])
        cache = new_cache(policy)
        assert_same(cache, policy, events, bot_domain)
        assert_same(cache, policy, rewritten, bot_domain)


def test_without_digression_restores_or_context_actions(policy, stories, bot_domain):
    featurizer = DialogueFeaturizer.from_domain(bot_domain, context_action=False)
    cache = ConversationCache(featurizer, restore_digressions=False)
    for prefix in prefixes(stories[9]):
        tracker = DialogueStateTracker.from_events("plain", prefix, slots=bot_domain.slots)
        turns = cache.turns(tracker, bot_domain, RULE_ONLY)
        states = policy._prediction_states(tracker, bot_domain, rule_only_data=RULE_ONLY)
        np.testing.assert_array_equal(turns.features, featurizer.encode_dialogue(states))
        assert (turns.restore == -1).all()


def test_another_history_under_the_same_sender_id_is_replayed_from_scratch(policy, stories,
                                                                           bot_domain):
    cache = new_cache(policy)
    assert_same(cache, policy, stories[4], bot_domain, sender="same")
    misses = cache.misses
    assert_same(cache, policy, stories[5], bot_domain, sender="same")
    assert cache.misses == misses + 1


def test_empty_and_listen_only_trackers(policy, bot_domain):
    cache = new_cache(policy)
    assert_same(cache, policy, [], bot_domain, sender="empty")
    assert_same(cache, policy, [ActionExecuted("action_listen")], bot_domain, sender="listen")


def test_changed_rule_only_data_starts_over(policy, stories, bot_domain):
    cache = new_cache(policy)
    assert_same(cache, policy, stories[6], bot_domain, rule_only_data=RULE_ONLY)
    assert_same(cache, policy, stories[6], bot_domain, rule_only_data={"slots": [], "loops": []})
    assert cache.misses == 2


def test_the_cache_keeps_at_most_its_bounds(policy, stories, bot_domain):
    few = new_cache(policy, max_conversations=2)
    for n, events in enumerate(stories[:5]):
        assert_same(few, policy, events, bot_domain, sender=f"c{n}")
    assert len(few) == 2
    assert_same(few, policy, stories[0], bot_domain, sender="c0")  # evicted: from scratch
    small = new_cache(policy, max_bytes=1)
    assert_same(small, policy, stories[0], bot_domain, sender="x")
    assert len(small) == 0


@pytest.fixture(scope="module")
def trained(bot_domain, tmp_path_factory):
    """A small NTMPolicy trained for one epoch (its weights matter only in being fixed)."""
    trained = create_policy(NTMPolicy, {"epochs": 1, "memory_slots": 8, "controller_units": 8},
                            new_storage(tmp_path_factory.mktemp("trained")))
    trackers = load_data(str(BOT / "data" / "stories.yml"), bot_domain, augmentation_factor=0)
    trained.train(trackers[:4], bot_domain)
    return trained


def assert_same_prediction(policy, events, domain, sender="p"):
    """The probabilities through the policy's cache equal the model's over the whole dialogue
    from its start, on features and restores computed from scratch."""
    tracker = DialogueStateTracker.from_events(sender, events, slots=domain.slots)
    cached = policy.predict_action_probabilities(tracker, domain, RULE_ONLY)
    features, restore = from_scratch(policy, tracker, domain, RULE_ONLY)
    length = bucket_length(len(features))
    padded = np.zeros([length, features.shape[1]], np.float32)
    padded[:len(features)] = features
    restores = np.full([length], NO_RESTORE, np.int32)
    restores[:len(restore)] = restore
    expected = policy.model.predict(padded, restores, len(features),
                                    policy._label_features(domain))
    np.testing.assert_allclose(cached.probabilities, expected.probabilities.numpy(),
                               rtol=1e-5, atol=1e-6)
    return restore


def test_predictions_through_the_cache_equal_those_from_scratch(trained, stories, bot_domain):
    """At every turn of stories with forms, task switches and digressions: the memory runs over
    the new turns only, from the rows it kept, and restores reach into those rows."""
    trained._conversations = None
    restored_into_kept = 0
    for n in (5, 6, 8, 10, 11):
        for prefix in prefixes(stories[n]):
            restore = assert_same_prediction(trained, prefix, bot_domain, sender=f"s{n}")
            restored_into_kept += int((restore[-1:] >= 0).sum())
    cache = trained._conversations
    assert cache.misses == 5 and cache.memory_resumed > 0.8 * cache.hits
    assert restored_into_kept > 0


def test_predictions_after_reverts_restarts_and_form_edits_equal_those_from_scratch(
        trained, stories, bot_domain):
    trained._conversations = None
    events = list(stories[0])
    for edit in edits():
        for event in edit:
            events.append(event)
            assert_same_prediction(trained, events, bot_domain)
        for prefix in prefixes(stories[3])[::3]:
            assert_same_prediction(trained, events + prefix, bot_domain)
        events = events + stories[3]
    assert trained._conversations.memory_resumed > 0


def test_two_servers_answering_alternate_turns_predict_as_one(trained, stories, bot_domain,
                                                              tmp_path):
    other = create_policy(NTMPolicy, {"epochs": 1, "memory_slots": 8, "controller_units": 8},
                          new_storage(tmp_path))
    other.dialogue_featurizer, other.model = trained.dialogue_featurizer, trained.model
    trained._conversations = None
    servers = [trained, other]
    for i, prefix in enumerate(prefixes(stories[2] + stories[3])):
        assert_same_prediction(servers[i % 2], from_store(prefix), bot_domain)
    assert all(server._conversations.memory_resumed > 0 for server in servers)


def test_a_restore_to_an_anchor_no_longer_kept_runs_the_whole_dialogue(trained, stories,
                                                                       bot_domain,
                                                                       monkeypatch):
    import rasa_ntm_policy.conversation_cache as module

    monkeypatch.setattr(module, "MAX_ANCHOR_ROWS", 0)
    trained._conversations = None
    restores = 0
    for prefix in prefixes(stories[6]) + prefixes(stories[10]):
        restore = assert_same_prediction(trained, prefix, bot_domain, sender=str(len(prefix)))
        restores += int(restore[-1] >= 0)
    assert restores > 0


def test_threads_predicting_one_conversation_leave_the_byte_count_right(policy, stories,
                                                                        bot_domain):
    import threading

    cache = new_cache(policy)
    errors = []

    def converse(events):
        try:
            for prefix in prefixes(events):
                assert_same(cache, policy, prefix, bot_domain, sender="shared")
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=converse, args=(stories[n],)) for n in (10, 11)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert cache._bytes == sum(entry.nbytes for entry in cache._entries.values())


def test_predictions_after_finetuning_use_the_new_weights(bot_domain, stories, tmp_path):
    policy = create_policy(NTMPolicy, {"epochs": 1, "memory_slots": 8, "controller_units": 8},
                           new_storage(tmp_path))
    trackers = load_data(str(BOT / "data" / "stories.yml"), bot_domain, augmentation_factor=0)
    policy.train(trackers[:4], bot_domain)
    prefix = prefixes(stories[6])
    for events in prefix[:-1]:
        assert_same_prediction(policy, events, bot_domain, sender="f")
    policy.finetune_mode = True
    policy.train(trackers[:4], bot_domain)  # the same model, new weights
    assert_same_prediction(policy, prefix[-1], bot_domain, sender="f")
