"""bench/score_parts.py: its names of the token sources line up with the model's gates, and the
first wrong turn of a story (bench/redp_quick.first_wrong_turn, shared with redp_quick --errors)."""
import numpy as np

from rasa_ntm_policy.featurizer import DialogueFeaturizer
from rasa_ntm_policy.model import NTMDialogueModel
from tests.bench_scripts import bench_module
from tests.policy.test_dialogue_model import SIZES
from tests.policy.test_featurizer import DOMAIN

score_parts = bench_module("score_parts")
redp_quick = bench_module("redp_quick")


def test_one_name_per_gate_in_the_models_order():
    featurizer = DialogueFeaturizer.from_domain(DOMAIN, context_action=True)
    model = NTMDialogueModel(featurizer.token_sources(), **SIZES)
    model.build_all()
    names = score_parts.SOURCE_NAMES
    assert len(names) == model.token_copy.gate.units == 2 * model.token_copy.num_sources
    assert names[:3] == ["previous", "context", "user"] and names[-1] == "mentioned exact"


def test_the_first_wrong_turn_skips_padding_and_is_none_when_all_are_right():
    first_wrong_turn = redp_quick.first_wrong_turn
    labels = np.array([3, 1, 2, -1, -1])
    assert first_wrong_turn(labels, np.array([3, 1, 2, 0, 0])) is None  # padding is not wrong
    assert first_wrong_turn(labels, np.array([3, 0, 0, 0, 0])) == 1
    assert first_wrong_turn(labels, np.array([0, 1, 0, 0, 0])) == 0
