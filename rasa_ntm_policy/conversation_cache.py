"""What NTMPolicy keeps per conversation between turns, so that a prediction replays only the
events that are new since the conversation's previous prediction.

Rasa hands a policy the whole tracker at every turn. Turning it into dialogue states
(`Policy._prediction_states`: a replay of every event into a fresh tracker, one state per bot
action) and the states into turn features cost time that grows with the conversation's length,
and the past of a conversation does not change. So for each conversation (by sender id) this
keeps the replay where it stopped: the tracker replayed so far, the turn features and digression
restores of the states so far, and the running values the scans carry from one state to the next.

It is a cache, never a source of truth:
- an entry is used only when the tracker's applied events (`tracker.applied_events()`, Rasa's
  own account of reverts, restarts, sessions and folded form turns) begin with the events the
  entry replayed, or with those it had replayed at one of its snapshots (below), compared by
  type, timestamp and content. Anything else (a revert or restart since then, a tracker cut by
  the tracker store, another conversation under the same id, another server having answered in
  between with different events) replays the whole tracker and replaces the entry;
- the prediction's own last state, after the latest event, is computed on copies and not kept:
  the next prediction recomputes it from the events that follow;
- the entries are bounded: at most MAX_CONVERSATIONS, and at most MAX_CACHED_BYTES of turn
  features in all; the least recently used go first. A process may lose its entries at any time
  (a restart, another server taking the conversation) and only does more work.
The states are those of Rasa's `Domain.states_for_tracker_history`, step by step; tests check
that the features, restores and probabilities equal those computed from scratch. What
`FullDialogueTrackerFeaturizer.prediction_states` does after that (`_choose_last_user_input`,
`_remove_user_text_if_intent`) only removes the user's text, which the turn features never
read (DialogueFeaturizer.encode_turn), so it is left out.

A turn of a form's happy path undoes events the cache has replayed: Rasa folds it into the
form's previous run. So the replay keeps a snapshot after each run of a loop and, where the
tracker's applied events part from the replay after one, goes back to it.
"""
import copy
import threading
from collections import OrderedDict
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import numpy as np
from rasa.shared.core.constants import ACTION_UNLIKELY_INTENT_NAME, PREVIOUS_ACTION
from rasa.shared.core.domain import Domain, State
from rasa.shared.core.events import ActionExecuted, Event
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import ACTION_NAME

from rasa_ntm_policy.dialogue import NO_RESTORE, ContextScan, RestoreScan
from rasa_ntm_policy.featurizer import DialogueFeaturizer

MAX_CONVERSATIONS = 1000
MAX_CACHED_BYTES = 256 * 2**20


class DialogueTurns(NamedTuple):
    """What a prediction needs from a conversation: its T turns (T >= 1)."""
    features: np.ndarray  # [T, F] float32
    restore: np.ndarray   # [T] int32, NO_RESTORE or an earlier turn


def event_key(event: Event) -> Tuple[Any, ...]:
    """What two events are compared by: their type and timestamp, and what of their content the
    states read (action, loop, slot and value, user text and intent, hidden rule turn); cheap,
    as every prediction compares the whole conversation's."""
    return (type(event), event.timestamp, getattr(event, "action_name", None),
            getattr(event, "name", None), getattr(event, "key", None),
            getattr(event, "value", None), getattr(event, "text", None),
            getattr(event, "intent_name", None), getattr(event, "hide_rule_turn", None),
            getattr(event, "use_text_for_featurization", None))


# what the cache counts per replayed event, for its bound: the key and its share of the
# replayed tracker (an estimate; the turn features are counted exactly)
BYTES_PER_EVENT = 256
BYTES_PER_SNAPSHOT = 16 * 2**10


class _RasaCarry(NamedTuple):
    """The values Domain.states_for_tracker_history carries from one prior tracker to the next
    (with ignore_rule_only_turns)."""
    last_ml_action_sub_state: Optional[Dict[str, Any]] = None
    turn_was_hidden: bool = False
    last_state: Optional[State] = None


class _Snapshot(NamedTuple):
    """A replay as it stood right after a run of a loop (a form), where Rasa folds the loop's
    next happy-path run back to (trackers.py, _undo_till_previous_loop_execution)."""
    events: int  # how many applied events had been replayed
    replayed: DialogueStateTracker
    carry: "_RasaCarry"
    restores: RestoreScan
    contexts: ContextScan
    turns: int


class _Replay:
    """One conversation's replay so far (mutable; owned by one prediction at a time)."""

    def __init__(self, tracker: DialogueStateTracker, feature_size: int) -> None:
        self.keys: List[Tuple[Any, ...]] = []  # event_key of each applied event replayed
        # the replayed tracker keeps no events of its own (nothing reads them)
        self.replayed = DialogueStateTracker(tracker.sender_id, tracker.slots.values(),
                                             max_event_history=1,
                                             is_rule_tracker=tracker.is_rule_tracker)
        self.carry = _RasaCarry()
        self.restores, self.contexts = RestoreScan(), ContextScan()
        self.features = np.zeros([16, feature_size], np.float32)
        self.restore = np.zeros([16], np.int32)
        self.turns = 0
        self.snapshots: Dict[str, _Snapshot] = {}  # the latest after each loop's run

    @property
    def nbytes(self) -> int:
        return (self.features.nbytes + self.restore.nbytes + BYTES_PER_EVENT * len(self.keys)
                + BYTES_PER_SNAPSHOT * len(self.snapshots))

    def take_snapshot(self, loop: str) -> None:
        self.snapshots[loop] = _Snapshot(len(self.keys), copy.deepcopy(self.replayed),
                                         self.carry, self.restores.copy(), self.contexts.copy(),
                                         self.turns)

    def resume(self, keys: List[Tuple[Any, ...]]) -> bool:
        """Goes back to the latest snapshot whose events keys still begins with; False when
        there is none (nothing is changed then)."""
        common = next((i for i, (a, b) in enumerate(zip(self.keys, keys)) if a != b),
                      min(len(self.keys), len(keys)))
        usable = [s for s in self.snapshots.values() if s.events <= common]
        if not usable:
            return False
        snapshot = max(usable, key=lambda s: s.events)
        del self.keys[snapshot.events:]
        self.replayed = copy.deepcopy(snapshot.replayed)
        self.carry, self.turns = snapshot.carry, snapshot.turns
        self.restores, self.contexts = snapshot.restores.copy(), snapshot.contexts.copy()
        self.snapshots = {loop: s for loop, s in self.snapshots.items()
                          if s.events <= snapshot.events}
        return True

    def append(self, row: np.ndarray, restore: int) -> None:
        if self.turns == len(self.features):
            self.features = np.concatenate([self.features, np.zeros_like(self.features)])
            self.restore = np.concatenate([self.restore, np.zeros_like(self.restore)])
        self.features[self.turns] = row
        self.restore[self.turns] = restore
        self.turns += 1


class StateOptions(NamedTuple):
    """How Policy._prediction_states calls the featurizer, for a policy of ML data."""
    ignore_rule_only_turns: bool = True
    ignore_action_unlikely_intent: bool = True


def _next_state(domain: Domain, tracker: DialogueStateTracker, hide_rule_turn: bool,
                carry: _RasaCarry, options: StateOptions,
                rule_only_data: Optional[Dict[str, Any]]) -> Tuple[Optional[State], _RasaCarry]:
    """One step of Domain.states_for_tracker_history: the state of a prior tracker (None when
    the turn is hidden) and the carry for the next one."""
    last_ml, hidden, last_state = carry
    if options.ignore_rule_only_turns:
        if not hidden:
            last_ml = domain._get_prev_action_sub_state(tracker)
        if not tracker.followup_action and tracker.latest_action_name != tracker.active_loop_name:
            hidden = hide_rule_turn
        if hidden:
            return None, _RasaCarry(last_ml, hidden, last_state)
    state = domain.get_active_state(tracker, omit_unset_slots=False)
    if options.ignore_rule_only_turns:
        domain._remove_rule_only_features(state, rule_only_data)
        if last_state is not None:
            domain._substitute_rule_only_user_input(state, last_state)
        if last_ml:
            state[PREVIOUS_ACTION] = last_ml
    state = domain._clean_state(state)
    return state, _RasaCarry(last_ml, hidden, state)


class ConversationCache:
    """Turn features and restores of conversations, extended turn by turn (module docstring)."""

    def __init__(self, featurizer: DialogueFeaturizer, restore_digressions: bool,
                 options: StateOptions = StateOptions(),
                 max_conversations: int = MAX_CONVERSATIONS,
                 max_bytes: int = MAX_CACHED_BYTES) -> None:
        self.featurizer, self.restore_digressions, self.options = (featurizer,
                                                                   restore_digressions, options)
        self.max_conversations, self.max_bytes = max_conversations, max_bytes
        self._entries: "OrderedDict[str, _Replay]" = OrderedDict()
        self._bytes = 0  # of the entries stored
        self._rule_only_data: Optional[Dict[str, Any]] = None
        self._lock = threading.Lock()
        self.hits = self.misses = 0  # predictions that resumed / replayed everything

    def __len__(self) -> int:
        return len(self._entries)

    def turns(self, tracker: DialogueStateTracker, domain: Domain,
              rule_only_data: Optional[Dict[str, Any]] = None) -> DialogueTurns:
        """The conversation's turn features and restores, as computed from scratch by
        DialogueFeaturizer.encode_dialogue and restore_indices on Policy._prediction_states."""
        applied = tracker.applied_events()
        keys = [event_key(event) for event in applied]
        with self._lock:
            if rule_only_data != self._rule_only_data:  # another model's rules: start over
                self._entries.clear()
                self._bytes = 0
                self._rule_only_data = rule_only_data
            entry = self._entries.pop(tracker.sender_id, None)
            self._bytes -= entry.nbytes if entry is not None else 0
        resumed = entry is not None and (entry.keys == keys[:len(entry.keys)]
                                         or entry.resume(keys))
        if not resumed:
            entry = _Replay(tracker, self.featurizer.turn_size)
        loops = set(domain.form_names)
        for event, key in zip(applied[len(entry.keys):], keys[len(entry.keys):]):
            if isinstance(event, ActionExecuted):
                state, entry.carry = _next_state(domain, entry.replayed, event.hide_rule_turn,
                                                 entry.carry, self.options, rule_only_data)
                if self._kept(state):
                    entry.append(*self._encode(state, entry.contexts, entry.restores))
            entry.replayed.update(event)
            entry.keys.append(key)
            if isinstance(event, ActionExecuted) and (
                    event.action_name in loops
                    or event.action_name == entry.replayed.active_loop_name):
                entry.take_snapshot(event.action_name)
        turns = self._with_last_state(entry, domain, rule_only_data)
        self._store(tracker.sender_id, entry, resumed)
        return turns

    def _kept(self, state: Optional[State]) -> bool:
        unlikely_intent = ((state or {}).get(PREVIOUS_ACTION) or {}).get(
            ACTION_NAME) == ACTION_UNLIKELY_INTENT_NAME
        return state is not None and not (self.options.ignore_action_unlikely_intent
                                          and unlikely_intent)

    def _encode(self, state: State, contexts: ContextScan,
                restores: RestoreScan) -> Tuple[np.ndarray, int]:
        row = np.zeros([self.featurizer.turn_size], np.float32)
        context = contexts.step(state)
        self.featurizer.encode_turn(state, row, context if self.featurizer.context_action
                                    else None)
        restore = restores.step(state)
        return np.nan_to_num(row, copy=False), (restore if self.restore_digressions
                                                else NO_RESTORE)

    def _with_last_state(self, entry: _Replay, domain: Domain,
                         rule_only_data: Optional[Dict[str, Any]]) -> DialogueTurns:
        """The entry's turns and the state after the latest event (computed on copies)."""
        state, _ = _next_state(domain, entry.replayed, False, entry.carry, self.options,
                               rule_only_data)
        last = (self._encode(state, entry.contexts.copy(), entry.restores.copy())
                if self._kept(state) else None)
        if last is None and entry.turns == 0:  # no state at all: an empty dialogue's prediction
            last = self._encode({}, ContextScan(), RestoreScan())[0], NO_RESTORE
        # copies: the entry's buffers change with the conversation's next prediction
        count = entry.turns + (last is not None)
        features = np.empty([count, self.featurizer.turn_size], np.float32)
        restore = np.empty([count], np.int32)
        features[:entry.turns], restore[:entry.turns] = (entry.features[:entry.turns],
                                                         entry.restore[:entry.turns])
        if last is not None:
            features[-1], restore[-1] = last
        return DialogueTurns(features, restore)

    def _store(self, sender_id: str, entry: _Replay, resumed: bool) -> None:
        with self._lock:
            if resumed:
                self.hits += 1
            else:
                self.misses += 1
            replaced = self._entries.pop(sender_id, None)  # stored meanwhile by another thread
            self._bytes += entry.nbytes - (replaced.nbytes if replaced is not None else 0)
            self._entries[sender_id] = entry
            while self._entries and (len(self._entries) > self.max_conversations
                                     or self._bytes > self.max_bytes):
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= dropped.nbytes
