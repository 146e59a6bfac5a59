"""bench/score_parts.py: its names of the token sources line up with the model's gates, and the
first wrong turn of a story (bench/redp_quick.first_wrong_turn, shared with redp_quick --errors)."""
import numpy as np
import pytest

from rasa_ntm_policy.config import DEFAULTS
from rasa_ntm_policy.model import NTMDialogueModel
from tests.bench_scripts import bench_module

score_parts = bench_module("score_parts")
redp_quick = bench_module("redp_quick")


@pytest.mark.parametrize("context_action", [True, False])
@pytest.mark.parametrize("mentioned_tokens", [True, False])
@pytest.mark.parametrize("exact", [True, False])
def test_one_name_per_gate_in_the_models_order(context_action, mentioned_tokens, exact):
    config = {**DEFAULTS, "memory_slots": 8, "controller_units": 8, "token_copy": True,
              "context_action": context_action, "mentioned_tokens": mentioned_tokens,
              "token_copy_exact": exact}
    sources = np.zeros([6, 3 if context_action else 2, 4], np.float32)
    model = NTMDialogueModel(6, 4, config, sources)
    model.build_all()
    names = score_parts.source_names(config)
    assert len(names) == model.token_gate.units
    assert names[:2] == (["previous", "context"] if context_action else ["previous", "user"])
    assert ("mentioned" in names) == mentioned_tokens
    assert names[-1].endswith("exact") == exact


def test_the_first_wrong_turn_skips_padding_and_is_none_when_all_are_right():
    first_wrong_turn = redp_quick.first_wrong_turn
    labels = np.array([3, 1, 2, -1, -1])
    assert first_wrong_turn(labels, np.array([3, 1, 2, 0, 0])) is None  # padding is not wrong
    assert first_wrong_turn(labels, np.array([3, 0, 0, 0, 0])) == 1
    assert first_wrong_turn(labels, np.array([0, 1, 0, 0, 0])) == 0
