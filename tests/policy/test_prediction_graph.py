"""Prediction is one XLA program: a while loop over the turns around the NTM cell step."""
import numpy as np
import tensorflow as tf

from rasa_ntm_policy.model import NTMDialogueModel
from rasa_ntm_policy.padding import bucket_length
from tests.policy.test_dialogue_model import SIZES, token_sources


def test_bucket_lengths_are_powers_of_two_from_16():
    assert [bucket_length(n) for n in (1, 16, 17, 200, 1000)] == [16, 16, 32, 256, 1024]


def test_prediction_is_one_xla_program_with_a_loop_over_turns_and_matches_training_scores():
    model = NTMDialogueModel(token_sources(), **SIZES)
    model.build_all()
    sources = token_sources()
    rng = np.random.default_rng(0)
    turns = (rng.uniform(size=[7, sources.shape[0]]) < 0.3).astype(np.float32)
    labels = (rng.uniform(size=[4, sources.shape[2]]) < 0.5).astype(np.float32)
    padded = np.zeros([bucket_length(7), sources.shape[0]], np.float32)
    padded[:7] = turns
    restore = np.full([bucket_length(7)], -1, np.int32)
    restore[5] = 3
    args = (padded, restore, np.int32(7), labels)
    hlo = model.predict_last.experimental_get_compiler_ir(*args)(stage="hlo")
    assert hlo.count(" while(") == 1, "one loop over the turns, inside the XLA program"

    prediction = model.predict_last(*args)
    scores = model.scores(turns[None], restore[None, :7], labels)[0, -1]
    np.testing.assert_allclose(prediction.probabilities.numpy(), tf.nn.softmax(scores).numpy(),
                               atol=1e-5)
    # the padding after the real turns changes nothing
    longer = np.zeros([64, sources.shape[0]], np.float32)
    longer[:7] = turns
    longer_restore = np.full([64], -1, np.int32)
    longer_restore[:16] = restore
    np.testing.assert_allclose(model.predict_last(longer, longer_restore, np.int32(7),
                                                  labels).probabilities.numpy(),
                               prediction.probabilities.numpy(), atol=1e-6)
