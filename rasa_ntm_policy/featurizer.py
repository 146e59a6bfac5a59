"""Dialogue featurization for the NTM policy: a whole conversation as one sequence of turns.

Each turn is Rasa's state before a bot action (user intent and entities, slots that influence the
conversation, active loop, previous action), turned into one dense binary vector. Intent and
action names are also split into tokens on "_" (utter_explain_price_hotel -> utter, explain,
price, hotel); the tokens are features of the user intent, of the previous action and of the
action labels, so what the model learns about "price" or "hotel" carries over between actions.

Action names are taken to be "_"-separated tokens that mean something (the example bot's
utter_<what>_<slot>_<task>): an assumption about the bot. Where it does not hold (names that
share no tokens, or share meaningless ones), every action and intent whose tokens don't tell it
apart from the others still has a one-hot feature of its own (names_needing_ids), so the
features stay complete and only the sharing between actions is lost.

Everything the featurizer knows is a vocabulary of names built from the training domain and
stored as JSON; anything not in it (an intent, entity, slot or action the model never saw)
contributes only through its known tokens, or not at all, and never raises.
"""
from typing import Any, Dict, Iterable, List, Optional, Sequence

import numpy as np
from rasa.shared.core.constants import ACTIVE_LOOP, PREVIOUS_ACTION, SLOTS, USER
from rasa.shared.core.domain import Domain, State
from rasa.shared.nlu.constants import ACTION_NAME, ACTION_TEXT, ENTITIES, INTENT

from rasa_ntm_policy.dialogue import context_actions

# 2: no name_ids; models of format 1 are refused (retrain)
FORMAT_VERSION = 2


def name_tokens(name: Optional[str]) -> List[str]:
    """utter_explain_price_hotel -> [utter, explain, price, hotel]."""
    return [token for token in (name or "").lower().split("_") if token]


def _index(names: Iterable[str]) -> Dict[str, int]:
    return {name: i for i, name in enumerate(dict.fromkeys(names))}


def names_needing_ids(names: Sequence[str]) -> List[str]:
    """The names whose token set doesn't tell them apart from every other name."""
    bags: Dict[frozenset, List[str]] = {}
    for name in dict.fromkeys(names):
        bags.setdefault(frozenset(name_tokens(name)), []).append(name)
    return [name for bag, group in bags.items() if len(group) > 1 or not bag for name in group]


class DialogueFeaturizer:
    """Turns Rasa states into [T, F] turn features and actions into [A, L] label features.

    Turn feature layout: intent one-hot | intent tokens | entities | slot features |
    active loop | [context action one-hot | context action tokens] | previous action one-hot |
    previous action tokens. The context action (with context_action) is the bot action the
    user's latest message answered (see context_actions).
    Label feature layout: action one-hot | action tokens.
    """

    def __init__(self, intents: Sequence[str], entities: Sequence[str],
                 slots: Dict[str, int], loops: Sequence[str], actions: Sequence[str],
                 context_action: bool = False) -> None:
        self.context_action = bool(context_action)
        self.all_intents, self.all_actions = list(intents), list(actions)
        # one-hot features only for the intents and actions whose tokens don't identify them
        # (the rest are their bags of tokens)
        self.intents = _index(names_needing_ids(intents))
        self.entities = _index(entities)
        self.slot_sizes = {name: int(size) for name, size in slots.items()}
        self.loops = _index(loops)
        self.actions = _index(names_needing_ids(actions))
        self.intent_tokens = _index(t for name in intents for t in name_tokens(name))
        self.action_tokens = _index(t for name in actions for t in name_tokens(name))
        self.label_size = max(len(self.actions) + len(self.action_tokens), 1)
        offsets, start = {}, 0
        for part, size in (("intent", len(self.intents)),
                           ("intent_tokens", len(self.intent_tokens)),
                           ("entities", len(self.entities)),
                           ("slots", sum(self.slot_sizes.values())), ("loop", len(self.loops)),
                           ("context", self.label_size if context_action else 0),
                           ("action", len(self.actions)),
                           ("action_tokens", len(self.action_tokens))):
            offsets[part] = start
            start += size
        self._offsets = offsets
        self.turn_size = max(start, 1)
        slot_offset, self._slot_offsets = offsets["slots"], {}
        for name, size in self.slot_sizes.items():
            self._slot_offsets[name] = slot_offset
            slot_offset += size

    def block(self, first: str, last: str) -> slice:
        """The columns of turn features from block `first` to block `last` (inclusive), e.g.
        block("intent", "entities") is the user's part of a turn."""
        parts = list(self._offsets)
        end_part = parts.index(last) + 1
        end = self._offsets[parts[end_part]] if end_part < len(parts) else self.turn_size
        return slice(self._offsets[first], end)

    @classmethod
    def from_domain(cls, domain: Domain, context_action: bool = False) -> "DialogueFeaturizer":
        slots = {slot.name: slot.feature_dimensionality() for slot in domain.slots
                 if slot.influence_conversation}
        return cls(intents=domain.intents, entities=domain.entities, slots=slots,
                   loops=domain.form_names, actions=domain.action_names_or_texts,
                   context_action=context_action)

    # --- turns -------------------------------------------------------------------------------
    def encode_turn(self, state: State, out: np.ndarray, context: Optional[str] = None) -> None:
        """Writes the features of one state into out [F] (zeros on entry); slot values are
        copied as they are (encode_dialogue zeroes NaNs)."""
        user = state.get(USER) or {}
        intent = user.get(INTENT)
        if intent in self.intents:
            out[self._offsets["intent"] + self.intents[intent]] = 1.0
        for token in name_tokens(intent):
            if token in self.intent_tokens:
                out[self._offsets["intent_tokens"] + self.intent_tokens[token]] = 1.0
        for entity in user.get(ENTITIES) or ():
            if entity in self.entities:
                out[self._offsets["entities"] + self.entities[entity]] = 1.0
        for name, values in (state.get(SLOTS) or {}).items():
            size = self.slot_sizes.get(name)
            if size is None or len(values) != size:
                continue  # a slot the model doesn't know, or whose shape changed
            start = self._slot_offsets[name]
            out[start:start + size] = values  # NaN (unset numeric slot) is zeroed by the caller
        loop = (state.get(ACTIVE_LOOP) or {}).get("name")
        if loop in self.loops:
            out[self._offsets["loop"] + self.loops[loop]] = 1.0
        previous = state.get(PREVIOUS_ACTION) or {}
        if self.context_action and context is not None:
            start = self._offsets["context"]
            self._encode_action(context, context, out[start:start + self.label_size])
        # the last block of a turn is the previous action in label layout (the model copies it)
        self._encode_action(previous.get(ACTION_NAME) or previous.get(ACTION_TEXT),
                            previous.get(ACTION_NAME), out[self._offsets["action"]:])

    def _encode_action(self, name: Optional[str], token_source: Optional[str],
                       out: np.ndarray) -> None:
        """Writes an action's label features into out [L]: its one-hot id (if it has one) and
        the tokens of token_source."""
        if name in self.actions:
            out[self.actions[name]] = 1.0
        for token in name_tokens(token_source):
            if token in self.action_tokens:
                out[len(self.actions) + self.action_tokens[token]] = 1.0

    def encode_dialogue(self, states: Sequence[State],
                        turns: Optional[Sequence[int]] = None) -> np.ndarray:
        """[T', F] features of a conversation's turns (all T of them, or those listed in turns;
        a turn's context comes from the whole conversation)."""
        contexts = context_actions(states) if self.context_action else None
        turns = range(len(states)) if turns is None else turns
        features = np.zeros([len(turns), self.turn_size], np.float32)
        for i, t in enumerate(turns):
            self.encode_turn(states[t], features[i], contexts[t] if contexts else None)
        return np.nan_to_num(features, copy=False)

    def encode_dialogues(self, dialogues: Sequence[Sequence[State]], length: int) -> np.ndarray:
        """[B, length, F] features, padded with zeros (or cut) to length."""
        features = np.zeros([len(dialogues), length, self.turn_size], np.float32)
        for b, states in enumerate(dialogues):
            states = states[:length]
            features[b, :len(states)] = self.encode_dialogue(states)
        return features

    def token_sources(self) -> np.ndarray:
        """[F, K, L]: K linear maps from a turn's features to label features, the turn's
        sources of action-name tokens: the previous action, the context action (with
        context_action) and the user's intent tokens and entity names that are also action
        tokens (request_hotel -> hotel, entity people -> people).

        A model can score an action by how many name tokens it shares with each source
        (utter_explain_people_hotel shares "people" with utter_ask_people), so a combination
        it has seen for one slot carries over to the others.
        """
        maps = []
        label = np.eye(self.label_size, dtype=np.float32)
        previous = np.zeros([self.turn_size, self.label_size], np.float32)
        previous[self._offsets["action"]:] = label
        maps.append(previous)
        if self.context_action:
            context = np.zeros([self.turn_size, self.label_size], np.float32)
            start = self._offsets["context"]
            context[start:start + self.label_size] = label
            maps.append(context)
        user = np.zeros([self.turn_size, self.label_size], np.float32)
        for names, offset in ((self.intent_tokens, self._offsets["intent_tokens"]),
                              (self.entities, self._offsets["entities"])):
            for name, column in names.items():
                if name.lower() in self.action_tokens:
                    user[offset + column,
                         len(self.actions) + self.action_tokens[name.lower()]] = 1.0
        maps.append(user)
        return np.stack(maps, axis=1)

    # --- labels ------------------------------------------------------------------------------
    def encode_actions(self, action_names: Sequence[str]) -> np.ndarray:
        """[A, L] label features: one-hot name (if known) and name tokens."""
        features = np.zeros([len(action_names), self.label_size], np.float32)
        for a, name in enumerate(action_names):
            self._encode_action(name, name, features[a])
        return features

    # --- persistence -------------------------------------------------------------------------
    def to_dict(self) -> Dict[str, Any]:
        return {"format_version": FORMAT_VERSION, "intents": self.all_intents,
                "entities": list(self.entities), "slots": self.slot_sizes,
                "loops": list(self.loops), "actions": self.all_actions,
                "context_action": self.context_action}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "DialogueFeaturizer":
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unsupported featurizer format {data.get('format_version')!r}")
        return cls(intents=data["intents"], entities=data["entities"], slots=data["slots"],
                   loops=data["loops"], actions=data["actions"],
                   context_action=data["context_action"])
