"""What NTMPolicy keeps per conversation between turns, so that a prediction replays only the
events that are new since the conversation's previous prediction.

Rasa hands a policy the whole tracker at every turn. Turning it into dialogue states
(`Policy._prediction_states`: a replay of every event into a fresh tracker, one state per bot
action), the states into turn features and running the memory over all of them cost time that
grows with the conversation's length, and the past of a conversation does not change. So for
each conversation (by sender id) this keeps where the previous prediction left it:
- the events seen, and their applied events (applied_events.py: Rasa's pass, continued);
- the replay: the tracker replayed so far, the turn features and digression restores of the
  states so far, and the running values the scans carry from one state to the next;
- the memory: the recurrence's rows (outputs and states) after the latest turn and after the
  turns a later digression restore may return to (RestoreScan.recent_anchors), so the memory
  runs over the new turns only (recurrence.TurnRecurrence.call, resuming).

It is a cache, never a source of truth:
- an entry is used only when the tracker's events begin with the events the entry has seen,
  compared by type and content (a copy of each event's attributes taken when it was seen).
  Anything else (a tracker cut by the tracker store, another conversation under the same id,
  a history rewritten through Rasa's API) starts the conversation over. Within a used entry,
  Rasa's own account of reverts, restarts, sessions and folded form turns decides which
  replayed events still hold; the replay and the memory go back to a snapshot (below) or to
  the start where they do not;
- the prediction's own last state, after the latest event, is computed on copies and not kept:
  the next prediction recomputes it from the events that follow; where a row the memory needs
  is not kept, it runs over the whole dialogue;
- the entries are bounded: at most MAX_CONVERSATIONS, and at most MAX_CACHED_BYTES in all (turn
  features and memory rows counted exactly, events estimated); the least recently used go
  first. A process may lose its entries at any time (a restart, another server taking the
  conversation) and only does more work.
The states are those of Rasa's `Domain.states_for_tracker_history`, step by step; tests check
that the features, restores and probabilities equal those computed from scratch. What
`FullDialogueTrackerFeaturizer.prediction_states` does after that (`_choose_last_user_input`,
`_remove_user_text_if_intent`) only removes the user's text, which the turn features never
read (DialogueFeaturizer.encode_turn), so it is left out.

A turn of a form's happy path undoes events the cache has replayed: Rasa folds it into the
form's previous run. So the replay keeps a snapshot after each run of a loop and, where the
applied events part from the replay after one, goes back to it.
"""
import copy
import threading
from collections import OrderedDict
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple, TypeVar

import numpy as np
import tensorflow as tf
from rasa.shared.core.constants import ACTION_UNLIKELY_INTENT_NAME, PREVIOUS_ACTION
from rasa.shared.core.domain import Domain, State
from rasa.shared.core.events import ActionExecuted, Event
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import ACTION_NAME

from rasa_ntm_policy.applied_events import AppliedEvents
from rasa_ntm_policy.dialogue import NO_RESTORE, ContextScan, RestoreScan
from rasa_ntm_policy.featurizer import DialogueFeaturizer

MAX_CONVERSATIONS = 1000
MAX_CACHED_BYTES = 256 * 2**20
# the memory rows kept per conversation for digression restores, the most recent anchors; a
# restore to an older one runs the memory over the whole dialogue
MAX_ANCHOR_ROWS = 32
# what the cache counts per event seen, for its bound: its attributes' copy and its share of
# the replayed tracker (an estimate; turn features and memory rows are counted exactly)
BYTES_PER_EVENT = 512
BYTES_PER_SNAPSHOT = 16 * 2**10

Rows = Any  # a nest (recurrence.TurnHistory) of numpy arrays [R, ...], one row per turn
Result = TypeVar("Result")


class DialogueTurns(NamedTuple):
    """What a prediction needs from a conversation: its T turns (T >= 1)."""
    features: np.ndarray  # [T, F] float32
    restore: np.ndarray   # [T] int32, NO_RESTORE or an earlier turn


class MemoryRun(NamedTuple):
    """The part of a dialogue's recurrence one prediction runs: its turns from `first` on, resumed
    from rows kept by earlier predictions (TurnRecurrence.call's saved and start).

    Rows are numbered saved first (P of them), then the T turns run."""
    features: np.ndarray  # [T, F] float32, T >= 1: the turns first .. the prediction's last
    restore: np.ndarray   # [T] int32, NO_RESTORE or the row to return to
    saved: Optional[Rows]  # P >= 1 rows, or None (P = 0) when the run starts at the beginning
    start: int            # the row of saved the first turn continues from, -1: the beginning
    keep: np.ndarray      # [K] int32 rows (among the T turns') to hand back for later runs
    kept_turns: List[int]  # [K] the dialogue's turns of those rows
    first: int            # the dialogue's turn features[0] is


def _row(rows: Rows, i: int) -> Rows:
    """Row i, copied (not a view that would keep all the rows alive)."""
    return tf.nest.map_structure(lambda a: a[i:i + 1].copy(), rows)


def _stacked(rows: Sequence[Rows]) -> Rows:
    return tf.nest.map_structure(lambda *a: np.concatenate(a), *rows)


def _row_bytes(rows: Rows) -> int:
    return sum(a[:1].nbytes for a in tf.nest.flatten(rows))


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
    """One conversation's events, replay and memory rows so far (mutable; owned by one
    prediction at a time)."""

    def __init__(self, tracker: DialogueStateTracker, feature_size: int) -> None:
        self.log = AppliedEvents()
        # each event's type and a copy of its attributes, as they were when it was seen
        self.seen_types: List[type] = []
        self.seen: List[Dict[str, Any]] = []
        self.feature_size = feature_size
        # the replayed tracker copies the slots and resets their values
        self.sender_id, self.slots = tracker.sender_id, list(tracker.slots.values())
        self.is_rule_tracker = tracker.is_rule_tracker
        self.features = np.zeros([16, feature_size], np.float32)
        self.restore = np.zeros([16], np.int32)
        self.rows: Dict[int, Rows] = {}  # memory rows after some turns < memory_turns
        self.memory_turns = 0
        self.row_bytes = 0
        self.start_over()

    def start_over(self) -> None:
        """Back to the start of the replay (the events seen are kept)."""
        self.events = 0  # how many applied events have been replayed
        # the replayed tracker keeps no events of its own (nothing reads them)
        self.replayed = DialogueStateTracker(self.sender_id, self.slots,
                                             max_event_history=1,
                                             is_rule_tracker=self.is_rule_tracker)
        self.carry = _RasaCarry()
        self.restores, self.contexts = RestoreScan(), ContextScan()
        self.turns = 0
        self.snapshots: Dict[str, _Snapshot] = {}  # the latest after each loop's run
        self.forget_rows_from(0)

    def forget_rows_from(self, turn: int) -> None:
        self.rows = {t: r for t, r in self.rows.items() if t < turn}
        self.memory_turns = min(self.memory_turns, turn)

    def begins(self, events: Sequence[Event]) -> bool:
        """Whether events begin with the events seen, by type and attributes."""
        count = len(self.seen)
        head = events[:count]
        return (len(events) >= count and list(map(type, head)) == self.seen_types
                and [e.__dict__ for e in head] == self.seen)

    def see(self, tracker: DialogueStateTracker, new: Sequence[Event]) -> None:
        """Folds in the events that follow those seen; the replay goes back to where the
        applied events still hold."""
        unchanged = self.log.extend(tracker, new)
        self.seen_types.extend(map(type, new))
        self.seen.extend(dict(e.__dict__) for e in new)
        if unchanged < self.events and not self.resume(unchanged):
            self.start_over()

    @property
    def nbytes(self) -> int:
        return (self.features.nbytes + self.restore.nbytes + BYTES_PER_EVENT * len(self.seen)
                + BYTES_PER_SNAPSHOT * len(self.snapshots) + self.row_bytes * len(self.rows))

    def take_snapshot(self, loop: str) -> None:
        self.snapshots[loop] = _Snapshot(self.events, copy.deepcopy(self.replayed),
                                         self.carry, self.restores.copy(), self.contexts.copy(),
                                         self.turns)

    def resume(self, unchanged: int) -> bool:
        """Goes back to the latest snapshot taken within the first `unchanged` applied events;
        False when there is none (nothing is changed then)."""
        usable = [s for s in self.snapshots.values() if s.events <= unchanged]
        if not usable:
            return False
        snapshot = max(usable, key=lambda s: s.events)
        self.events = snapshot.events
        self.replayed = copy.deepcopy(snapshot.replayed)
        self.carry, self.turns = snapshot.carry, snapshot.turns
        self.restores, self.contexts = snapshot.restores.copy(), snapshot.contexts.copy()
        self.snapshots = {loop: s for loop, s in self.snapshots.items()
                          if s.events <= snapshot.events}
        self.forget_rows_from(snapshot.turns)
        return True

    def append(self, row: np.ndarray, restore: int) -> None:
        if self.turns == len(self.features):
            self.features = np.concatenate([self.features, np.zeros_like(self.features)])
            self.restore = np.concatenate([self.restore, np.zeros_like(self.restore)])
        self.features[self.turns] = row
        self.restore[self.turns] = restore
        self.turns += 1

    def rows_wanted(self, restore_digressions: bool) -> set:
        """The turns whose memory rows a later prediction may resume from: the latest turn's,
        and the anchors a restore may return to, now and at each snapshot."""
        wanted = {self.turns - 1} | {s.turns - 1 for s in self.snapshots.values()}
        if restore_digressions:
            for scan in [self.restores] + [s.restores for s in self.snapshots.values()]:
                wanted.update(scan.recent_anchors(MAX_ANCHOR_ROWS))
        wanted.discard(-1)
        return wanted


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
    """Turn features, restores and memory rows of conversations, extended turn by turn (module
    docstring)."""

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
        self.hits = self.misses = 0  # predictions that resumed / started the conversation over
        self.memory_resumed = 0  # memory runs that resumed from kept rows

    def __len__(self) -> int:
        return len(self._entries)

    def turns(self, tracker: DialogueStateTracker, domain: Domain,
              rule_only_data: Optional[Dict[str, Any]] = None) -> DialogueTurns:
        """The conversation's turn features and restores, as computed from scratch by
        DialogueFeaturizer.encode_dialogue and restore_indices on Policy._prediction_states."""
        entry, resumed = self._replayed(tracker, domain, rule_only_data)
        last = self._last_turn(entry, domain, rule_only_data)
        count = entry.turns + (last is not None)
        features = np.empty([count, self.featurizer.turn_size], np.float32)
        restore = np.empty([count], np.int32)
        features[:entry.turns], restore[:entry.turns] = (entry.features[:entry.turns],
                                                         entry.restore[:entry.turns])
        if last is not None:
            features[-1], restore[-1] = last
        self._store(tracker.sender_id, entry, resumed)
        return DialogueTurns(features, restore)

    def predict(self, tracker: DialogueStateTracker, domain: Domain,
                rule_only_data: Optional[Dict[str, Any]],
                run: Callable[[MemoryRun], Tuple[Result, Rows]]) -> Result:
        """run's result on the conversation's MemoryRun; run returns it and the rows asked for by
        MemoryRun.keep, which later predictions resume from. Equal to run over the whole
        dialogue from its start, with turns()'s features and restores (to float rounding)."""
        entry, resumed = self._replayed(tracker, domain, rule_only_data)
        last = self._last_turn(entry, domain, rule_only_data)
        wanted = entry.rows_wanted(self.restore_digressions)
        memory = self._memory_run(entry, last, wanted)
        result, kept = run(memory)
        rows = {t: r for t, r in entry.rows.items() if t < memory.first}
        rows.update((t, _row(kept, i)) for i, t in enumerate(memory.kept_turns))
        entry.rows = {t: r for t, r in rows.items() if t in wanted}
        entry.memory_turns = entry.turns
        if memory.kept_turns:
            entry.row_bytes = _row_bytes(kept)
        self.memory_resumed += memory.first > 0
        self._store(tracker.sender_id, entry, resumed)
        return result

    def _replayed(self, tracker: DialogueStateTracker, domain: Domain,
                  rule_only_data: Optional[Dict[str, Any]]) -> Tuple[_Replay, bool]:
        """The conversation's entry (taken out of the cache), its replay brought up to the
        tracker's events, and whether it was resumed."""
        events = list(tracker.events)
        with self._lock:
            if rule_only_data != self._rule_only_data:  # another model's rules: start over
                self._entries.clear()
                self._bytes = 0
                self._rule_only_data = rule_only_data
            entry = self._entries.pop(tracker.sender_id, None)
            self._bytes -= entry.nbytes if entry is not None else 0
        resumed = entry is not None and entry.begins(events)
        if not resumed:
            entry = _Replay(tracker, self.featurizer.turn_size)
        entry.see(tracker, events[len(entry.seen):])
        loops = set(domain.form_names)
        applied = entry.log.applied
        for event in applied[entry.events:]:
            if isinstance(event, ActionExecuted):
                state, entry.carry = _next_state(domain, entry.replayed, event.hide_rule_turn,
                                                 entry.carry, self.options, rule_only_data)
                if self._kept(state):
                    entry.append(*self._encode(state, entry.contexts, entry.restores))
            entry.replayed.update(event)
            entry.events += 1
            if isinstance(event, ActionExecuted) and (
                    event.action_name in loops
                    or event.action_name == entry.replayed.active_loop_name):
                entry.take_snapshot(event.action_name)
        return entry, resumed

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

    def _last_turn(self, entry: _Replay, domain: Domain,
                   rule_only_data: Optional[Dict[str, Any]]) -> Optional[Tuple[np.ndarray, int]]:
        """The turn of the state after the latest event (computed on copies), None when that
        state is hidden; an empty dialogue's when there is no state at all."""
        state, _ = _next_state(domain, entry.replayed, False, entry.carry, self.options,
                               rule_only_data)
        if self._kept(state):
            return self._encode(state, entry.contexts.copy(), entry.restores.copy())
        if entry.turns == 0:
            return self._encode({}, ContextScan(), RestoreScan())[0], NO_RESTORE
        return None

    def _memory_run(self, entry: _Replay, last: Optional[Tuple[np.ndarray, int]],
                    wanted: set) -> MemoryRun:
        """The turns from the first one whose memory row is not kept (at least one turn), the
        rows they need, or all turns from the start where one of those is not kept; the rows of
        the wanted turns among them are to be kept (_Replay.rows_wanted)."""
        count = entry.turns + (last is not None)
        restore = np.empty([count], np.int32)
        restore[:entry.turns] = entry.restore[:entry.turns]
        if last is not None:
            restore[-1] = last[1]
        first = min(entry.memory_turns, count - 1)
        needed = sorted({s for s in restore[first:].tolist() if 0 <= s < first}
                        | ({first - 1} if first > 0 else set()))
        if not all(t in entry.rows for t in needed):
            first, needed = 0, []
        features = np.empty([count - first, self.featurizer.turn_size], np.float32)
        features[:entry.turns - first] = entry.features[first:entry.turns]
        if last is not None:
            features[-1] = last[0]
        position = {t: i for i, t in enumerate(needed)}
        offset = len(needed) - first
        rows = [NO_RESTORE if s < 0 else position[s] if s < first else s + offset
                for s in restore[first:].tolist()]
        kept_turns = [t for t in sorted(wanted) if first <= t < entry.turns]
        return MemoryRun(features, np.array(rows, np.int32),
                         _stacked([entry.rows[t] for t in needed]) if needed else None,
                         position.get(first - 1, -1),
                         np.array([t + offset for t in kept_turns], np.int32), kept_turns,
                         first)

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
