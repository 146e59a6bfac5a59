"""bench/score_parts.py: its names of the token sources line up with the model's gates."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from rasa_ntm_policy.config import DEFAULTS
from rasa_ntm_policy.model import NTMDialogueModel

spec = importlib.util.spec_from_file_location(
    "bench_score_parts", Path(__file__).resolve().parents[1] / "bench" / "score_parts.py")
score_parts = importlib.util.module_from_spec(spec)
spec.loader.exec_module(score_parts)


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
