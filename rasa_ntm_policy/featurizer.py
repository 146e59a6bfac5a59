"""Dialogue featurization for the NTM policy: a whole conversation as one sequence of turns.

Each turn is Rasa's state before a bot action (user intent and entities, slots that influence the
conversation, active loop, previous action), turned into one dense binary vector. Intent and
action names are also split into tokens on "_" (utter_explain_price_hotel -> utter, explain,
price, hotel); the tokens are features of the user intent, of the previous action and of the
action labels, so what the model learns about "price" or "hotel" carries over between actions.

Everything the featurizer knows is a vocabulary of names built from the training domain and
stored as JSON; anything not in it (an intent, entity, slot or action the model never saw)
contributes only through its known tokens, or not at all, and never raises.
"""
from typing import Any, Dict, Iterable, List, Optional, Sequence

import numpy as np
from rasa.shared.core.constants import ACTIVE_LOOP, PREVIOUS_ACTION, SLOTS, USER
from rasa.shared.core.domain import Domain, State
from rasa.shared.nlu.constants import ACTION_NAME, ACTION_TEXT, ENTITIES, INTENT

FORMAT_VERSION = 1


def name_tokens(name: Optional[str]) -> List[str]:
    """utter_explain_price_hotel -> [utter, explain, price, hotel]."""
    return [token for token in (name or "").lower().split("_") if token]


def _index(names: Iterable[str]) -> Dict[str, int]:
    return {name: i for i, name in enumerate(dict.fromkeys(names))}


class DialogueFeaturizer:
    """Turns Rasa states into [T, F] turn features and actions into [A, L] label features.

    Turn feature layout: intent one-hot | intent tokens | entities | slot features |
    active loop | previous action one-hot | previous action tokens.
    Label feature layout: action one-hot | action tokens.
    """

    def __init__(self, intents: Sequence[str], entities: Sequence[str],
                 slots: Dict[str, int], loops: Sequence[str], actions: Sequence[str]) -> None:
        self.intents = _index(intents)
        self.entities = _index(entities)
        self.slot_sizes = {name: int(size) for name, size in slots.items()}
        self.loops = _index(loops)
        self.actions = _index(actions)
        self.intent_tokens = _index(t for name in self.intents for t in name_tokens(name))
        self.action_tokens = _index(t for name in self.actions for t in name_tokens(name))
        offsets, start = {}, 0
        for part, size in (("intent", len(self.intents)), ("intent_tokens", len(self.intent_tokens)),
                           ("entities", len(self.entities)),
                           ("slots", sum(self.slot_sizes.values())), ("loop", len(self.loops)),
                           ("action", len(self.actions)),
                           ("action_tokens", len(self.action_tokens))):
            offsets[part] = start
            start += size
        self._offsets = offsets
        self.turn_size = max(start, 1)
        self.label_size = max(len(self.actions) + len(self.action_tokens), 1)
        slot_offset, self._slot_offsets = offsets["slots"], {}
        for name, size in self.slot_sizes.items():
            self._slot_offsets[name] = slot_offset
            slot_offset += size

    @classmethod
    def from_domain(cls, domain: Domain) -> "DialogueFeaturizer":
        slots = {slot.name: slot.feature_dimensionality() for slot in domain.slots
                 if slot.influence_conversation}
        return cls(intents=domain.intents, entities=domain.entities, slots=slots,
                   loops=domain.form_names, actions=domain.action_names_or_texts)

    # --- turns -------------------------------------------------------------------------------
    def encode_turn(self, state: State, out: np.ndarray) -> None:
        """Writes the features of one state into out [F] (zeros on entry)."""
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
            out[start:start + size] = np.nan_to_num(np.asarray(values, np.float32))
        loop = (state.get(ACTIVE_LOOP) or {}).get("name")
        if loop in self.loops:
            out[self._offsets["loop"] + self.loops[loop]] = 1.0
        previous = state.get(PREVIOUS_ACTION) or {}
        action = previous.get(ACTION_NAME) or previous.get(ACTION_TEXT)
        if action in self.actions:
            out[self._offsets["action"] + self.actions[action]] = 1.0
        for token in name_tokens(previous.get(ACTION_NAME)):
            if token in self.action_tokens:
                out[self._offsets["action_tokens"] + self.action_tokens[token]] = 1.0

    def encode_dialogue(self, states: Sequence[State]) -> np.ndarray:
        """[T, F] features of a conversation's states."""
        features = np.zeros([len(states), self.turn_size], np.float32)
        for t, state in enumerate(states):
            self.encode_turn(state, features[t])
        return features

    def encode_dialogues(self, dialogues: Sequence[Sequence[State]], length: int) -> np.ndarray:
        """[B, length, F] features, each dialogue zero-padded (or cut) to length turns."""
        features = np.zeros([len(dialogues), length, self.turn_size], np.float32)
        for b, states in enumerate(dialogues):
            for t, state in enumerate(states[:length]):
                self.encode_turn(state, features[b, t])
        return features

    # --- labels ------------------------------------------------------------------------------
    def encode_actions(self, action_names: Sequence[str]) -> np.ndarray:
        """[A, L] label features: one-hot name (if known) and name tokens."""
        features = np.zeros([len(action_names), self.label_size], np.float32)
        token_offset = len(self.actions)
        for a, name in enumerate(action_names):
            if name in self.actions:
                features[a, self.actions[name]] = 1.0
            for token in name_tokens(name):
                if token in self.action_tokens:
                    features[a, token_offset + self.action_tokens[token]] = 1.0
        return features

    # --- persistence -------------------------------------------------------------------------
    def to_dict(self) -> Dict[str, Any]:
        return {"format_version": FORMAT_VERSION, "intents": list(self.intents),
                "entities": list(self.entities), "slots": self.slot_sizes,
                "loops": list(self.loops), "actions": list(self.actions)}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "DialogueFeaturizer":
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unsupported featurizer format {data.get('format_version')!r}")
        return cls(intents=data["intents"], entities=data["entities"], slots=data["slots"],
                   loops=data["loops"], actions=data["actions"])
