"""Rasa's `DialogueStateTracker.applied_events`, continued event by event.

Rasa computes a tracker's applied events (its events without those undone by reverts, restarts,
sessions and a form's folded happy-path turns) by a pass over all of them, at every call. A
conversation's events only grow, so AppliedEvents keeps the result for the events seen so far
and folds in the new ones: the same loop body, calling Rasa's own undo helpers. The one thing
Rasa's pass reads from all the events at once is the set of loop names (those of any ActiveLoop
event): while the new events bring no new one, the two agree; a new one refolds everything.
tests/policy/test_applied_events.py checks the result against Rasa's at every event of stories
with forms, reverts, restarts and sessions.
"""
from typing import List, Optional, Sequence, Set

from rasa.shared.core.events import (ActionExecuted, ActionReverted, ActiveLoop, Event,
                                     Restarted, SessionStarted, UserUttered,
                                     UserUtteranceReverted)
from rasa.shared.core.trackers import DialogueStateTracker


def _loop_names(events: Sequence[Event]) -> Set[str]:
    return {event.name for event in events if isinstance(event, ActiveLoop) and event.name}


class AppliedEvents:
    """The applied events of a growing list of events (mutable).

    Attributes:
      events: every event folded in so far, in order.
      applied: their applied events (objects of `events`), as Rasa's applied_events gives them.
    """

    def __init__(self) -> None:
        self.events: List[Event] = []
        self.applied: List[Event] = []
        self.loop_names: Set[str] = set()

    def extend(self, tracker: DialogueStateTracker, new: Sequence[Event]) -> int:
        """Folds in the events that follow `events` (tracker: the conversation's, for Rasa's
        helpers). Returns how many of `applied`'s first events are the same objects, in the
        same places, as before."""
        names = _loop_names(new)
        if not names <= self.loop_names:  # Rasa's pass would treat earlier events otherwise
            before = self.applied
            self.loop_names |= names
            self.events.extend(new)
            self.applied = []
            self._fold(tracker, self.events)
            same = next((i for i, (a, b) in enumerate(zip(before, self.applied)) if a is not b),
                        min(len(before), len(self.applied)))
            return same
        self.events.extend(new)
        return self._fold(tracker, new)

    def _fold(self, tracker: DialogueStateTracker, new: Sequence[Event]) -> int:
        """Rasa's loop body (trackers.py, applied_events) over new; returns the length of the
        prefix of applied it left untouched."""
        applied = self.applied
        same = len(applied)
        for event in new:
            if isinstance(event, (Restarted, SessionStarted)):
                applied.clear()
            elif isinstance(event, ActionReverted):
                tracker._undo_till_previous(ActionExecuted, applied)
            elif isinstance(event, UserUtteranceReverted):
                tracker._undo_till_previous(UserUttered, applied)
                tracker._undo_till_previous(ActionExecuted, applied)
            elif (isinstance(event, ActionExecuted) and event.action_name in self.loop_names
                  and not tracker._first_loop_execution_or_unhappy_path(event.action_name,
                                                                        applied)):
                # removes turns after the loop's previous run, not only from the end
                previous = _last_run(applied, event.action_name)
                tracker._undo_till_previous_loop_execution(event.action_name, applied)
                same = min(same, (previous if previous is not None else -1) + 1)
            else:
                applied.append(event)
            same = min(same, len(applied))
        return same


def _last_run(applied: Sequence[Event], action_name: str) -> Optional[int]:
    """The index of the latest ActionExecuted of action_name in applied, None if there is none."""
    for i in range(len(applied) - 1, -1, -1):
        event = applied[i]
        if isinstance(event, ActionExecuted) and event.action_name == action_name:
            return i
    return None
