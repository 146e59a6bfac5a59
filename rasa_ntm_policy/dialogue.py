"""The dialogue logic NTMPolicy reads out of Rasa's states: digressions and the pending question.

Both functions encode a rule about how conversations go, not something learnt:
- restore_indices: a bot action repeated with nothing new since (same slots, no new entity type)
  closes a digression, whose turns the memory then forgets;
- context_actions: the bot action before the user's latest message is the question that message
  answers.
Where a bot's conversations don't follow the rule the policy degrades to a plain memory over all
turns: a repeat that is not a digression only drops turns that brought nothing the slots and
entities show (the model still sees the current turn in full), and the option
`restore_digressions: false` switches the restore off.
"""
import itertools
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from rasa.shared.core.constants import ACTION_LISTEN_NAME, ACTIVE_LOOP, PREVIOUS_ACTION, SLOTS, USER
from rasa.shared.core.domain import State
from rasa.shared.nlu.constants import ACTION_NAME, ACTION_TEXT, ENTITIES

NO_RESTORE = -1


class RestoreScan:
    """restore_indices one turn at a time: step(state) is the restore of the next turn. copy()
    branches off a scan (the prediction's last turn is scanned on a copy; see
    conversation_cache)."""

    def __init__(self) -> None:
        self.turn = 0
        # the anchor turn of each (action, slots, loop) key, oldest first; an anchor is usable
        # only while no new entity type has been seen since it was set, so the anchors are
        # dropped when one is
        self.anchors: Dict[Any, int] = {}
        self.entities_seen: set = set()

    def copy(self) -> "RestoreScan":
        scan = RestoreScan()
        scan.turn, scan.anchors, scan.entities_seen = (self.turn, dict(self.anchors),
                                                       set(self.entities_seen))
        return scan

    def recent_anchors(self, count: int) -> List[int]:
        """The latest count turns a later turn may return to (newest first)."""
        return list(itertools.islice(reversed(self.anchors.values()), count))

    def step(self, state: State) -> int:
        t = self.turn
        self.turn += 1
        seen = len(self.entities_seen)
        self.entities_seen.update((state.get(USER) or {}).get(ENTITIES) or ())
        if len(self.entities_seen) != seen:
            self.anchors.clear()
        previous = (state.get(PREVIOUS_ACTION) or {}).get(ACTION_NAME)
        if previous is None or previous == ACTION_LISTEN_NAME:
            return NO_RESTORE
        key = (previous, frozenset((state.get(SLOTS) or {}).items()),
               (state.get(ACTIVE_LOOP) or {}).get("name"))
        anchor = self.anchors.pop(key, None)
        self.anchors[key] = t
        return anchor if anchor is not None else NO_RESTORE


def restore_indices(states: Sequence[State]) -> np.ndarray:
    """[T] for each turn, the earlier turn whose memory state it returns to, or NO_RESTORE.

    The rule (an assumption about the bot's conversations, see the module docstring): a
    digression is a loop that brings no new information. The bot takes again an action it took
    before (not action_listen), with the same slot values and active loop, and the user has
    mentioned no entity type since then that they had not mentioned before it. After such a
    loop (any number of chitchat, explain, correct or "did that work?" turns) the conversation
    is where it was, so turn t returns to the memory state of that earlier turn s (REDP's copy
    mechanism, which restores the state from before a digression, made exact). Turn s is the
    latest such turn.
    """
    scan = RestoreScan()
    return np.array([scan.step(state) for state in states], np.int32)


class ContextScan:
    """context_actions one turn at a time: step(state) is the context of the next turn."""

    def __init__(self) -> None:
        self.context: Optional[str] = None
        self.before: Optional[str] = None

    def copy(self) -> "ContextScan":
        scan = ContextScan()
        scan.context, scan.before = self.context, self.before
        return scan

    def step(self, state: State) -> Optional[str]:
        previous = state.get(PREVIOUS_ACTION) or {}
        name = previous.get(ACTION_NAME) or previous.get(ACTION_TEXT)
        if name == ACTION_LISTEN_NAME:
            self.context = self.before
        self.before = name
        return self.context


def context_actions(states: Sequence[State]) -> List[Optional[str]]:
    """[T] for each turn, the bot action the user's latest message answered (None before any).

    That is the previous action of the turn just before the latest turn that follows
    action_listen: the question pending while the user digresses, explains or corrects, which
    the bot may have to come back to (REDP's attention over past bot actions learnt to find it).
    """
    scan = ContextScan()
    return [scan.step(state) for state in states]
