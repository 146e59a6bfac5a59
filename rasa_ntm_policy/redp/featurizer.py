"""REDP's inputs from Rasa states: user, slot and previous-action features per turn.

As rasa_core's LabelTokenizerSingleStateFeaturizer: intent and action names are bags of their
`_` tokens; the user part of a turn (intent, entities) is present only on turns that follow
action_listen (Rasa 3 states keep the last user message after bot actions; REDP saw nothing
there, and its attention over user turns ignores those turns). Built on the NTM policy's
DialogueFeaturizer, whose vocabulary and JSON persistence it shares.
"""
from typing import Sequence, Tuple

import numpy as np
from rasa.shared.core.constants import ACTION_LISTEN_NAME, PREVIOUS_ACTION
from rasa.shared.core.domain import State
from rasa.shared.nlu.constants import ACTION_NAME

from rasa_ntm_policy.featurizer import DialogueFeaturizer


def user_turns(states: Sequence[State]) -> np.ndarray:
    """[T] bool: the turns right after the user spoke (previous action action_listen)."""
    return np.array([(state.get(PREVIOUS_ACTION) or {}).get(ACTION_NAME) == ACTION_LISTEN_NAME
                     for state in states], bool)


def encode(featurizer: DialogueFeaturizer, dialogues: Sequence[Sequence[State]],
           length: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dialogues of states -> user [B,T,Fu], slots [B,T,Fs], previous actions [B,T,L], zero-padded
    (or cut) to length T. Previous actions are in the layout of featurizer.encode_actions."""
    turns = featurizer.encode_dialogues(dialogues, length)
    for b, states in enumerate(dialogues):
        spoke = np.zeros([length], bool)
        spoke[:min(len(states), length)] = user_turns(states)[:length]
        turns[b, ~spoke, featurizer.block("intent", "entities")] = 0.0
    return (turns[..., featurizer.block("intent", "entities")],
            turns[..., featurizer.block("slots", "loop")],
            turns[..., featurizer.block("action", "action_tokens")])
