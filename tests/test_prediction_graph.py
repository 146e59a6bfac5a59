"""Prediction is one XLA program: a while loop over the turns around the NTM cell step."""
import numpy as np
import tensorflow as tf

from rasa_ntm_policy.config import DEFAULTS
from rasa_ntm_policy.model import NTMDialogueModel, bucket_length


def test_bucket_lengths_are_powers_of_two_from_16():
    assert [bucket_length(n) for n in (1, 16, 17, 200, 1000)] == [16, 16, 32, 256, 1024]


def test_prediction_is_one_xla_program_with_a_loop_over_turns_and_matches_training_scores():
    model = NTMDialogueModel(12, 5, {**DEFAULTS, "memory_slots": 8, "controller_units": 16})
    model.build_all()
    rng = np.random.default_rng(0)
    turns = (rng.uniform(size=[7, 12]) < 0.3).astype(np.float32)
    labels = (rng.uniform(size=[4, 5]) < 0.5).astype(np.float32)
    padded = np.zeros([bucket_length(7), 12], np.float32)
    padded[:7] = turns
    args = (padded, np.int32(7), turns[-1], labels)
    hlo = model.predict_last.experimental_get_compiler_ir(*args)(stage="hlo")
    assert hlo.count(" while(") == 1, "one loop over the turns, inside the XLA program"

    prediction = model.predict_last(*args)
    scores = model.scores(turns[None], tf.fill([1, 7], -1), labels)[0, -1]
    np.testing.assert_allclose(prediction.probabilities.numpy(), tf.nn.softmax(scores).numpy(),
                               atol=1e-5)
    # the padding after the real turns changes nothing
    longer = np.zeros([64, 12], np.float32)
    longer[:7] = turns
    np.testing.assert_allclose(model.predict_last(longer, np.int32(7), turns[-1],
                                                  labels).probabilities.numpy(),
                               prediction.probabilities.numpy(), atol=1e-6)
