"""AppliedEvents (rasa_ntm_policy/applied_events.py): folding a conversation's events in a few
at a time gives Rasa's own applied_events at every step, and what it says is unchanged is."""
from rasa.shared.core.events import ActionExecuted, ActiveLoop, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from rasa_ntm_policy.applied_events import AppliedEvents
from tests.policy.test_conversation_cache import edits, from_store


def conversations(stories):
    """Event lists with forms (their folded happy paths), reverts, restarts, sessions, a form
    activated by a rule and its unhappy path: distinct objects throughout."""
    events = list(stories[0])
    for edit in edits():
        events = events + edit + stories[1]
    return [from_store(events)] + [from_store(story) for story in stories[2:8]]


def check_growth(events, step, domain):
    folded = AppliedEvents()
    before = []
    for end in range(0, len(events) + step, step):
        tracker = DialogueStateTracker.from_events("s", events[:end], slots=domain.slots)
        same = folded.extend(tracker, events[len(folded.events):end])
        expected = tracker.applied_events()
        assert len(folded.applied) == len(expected)
        assert all(a is b for a, b in zip(folded.applied, expected)), end
        assert 0 <= same <= min(len(before), len(expected))
        assert all(a is b for a, b in zip(before[:same], expected[:same])), end
        before = list(folded.applied)


def test_folding_event_by_event_gives_rasas_applied_events_at_every_event(stories, bot_domain):
    for events in conversations(stories):
        check_growth(events, 1, bot_domain)


def test_folding_several_events_at_a_time(stories, bot_domain):
    for events in conversations(stories)[:3]:
        check_growth(events, 5, bot_domain)


def test_a_loop_name_seen_late_refolds_the_earlier_events(bot_domain):
    """Rasa's pass reads the loop names of all events: a run of a form logged before the form's
    first ActiveLoop event folds once that event arrives."""
    intent = {"name": "inform", "confidence": 1.0}
    events = [ActionExecuted("action_listen"), UserUttered("a", intent=intent),
              ActionExecuted("hotel_form"), SlotSet("requested_slot", "location"),
              ActionExecuted("action_listen"), UserUttered("b", intent=intent),
              ActionExecuted("hotel_form"), ActiveLoop("hotel_form")]
    check_growth(events, 1, bot_domain)
    folded = AppliedEvents()
    tracker = DialogueStateTracker.from_events("s", events, slots=bot_domain.slots)
    folded.extend(tracker, events[:-1])
    assert folded.extend(tracker, events[-1:]) < len(events) - 1
    assert folded.applied == tracker.applied_events()


def test_the_unchanged_count_is_everything_while_events_only_add(stories, bot_domain):
    events = [e for e in from_store(stories[3]) if not isinstance(e, ActiveLoop)]
    folded = AppliedEvents()
    tracker = DialogueStateTracker.from_events("s", events, slots=bot_domain.slots)
    folded.extend(tracker, events[:10])
    count = len(folded.applied)
    assert folded.extend(tracker, events[10:20]) == count
