"""Prediction is one XLA program: a while loop over the turns around the NTM cell step, which
resumes from rows an earlier prediction of the same dialogue kept."""
import numpy as np
import tensorflow as tf

from rasa_ntm_policy.model import NTMDialogueModel
from rasa_ntm_policy.padding import bucket_length
from tests.policy.test_dialogue_model import SIZES, token_sources


def test_bucket_lengths_are_powers_of_two_from_16():
    assert [bucket_length(n) for n in (1, 16, 17, 200, 1000)] == [16, 16, 32, 256, 1024]
    assert [bucket_length(n, smallest=4) for n in (1, 4, 5)] == [4, 4, 8]


def _model_and_data(num_turns=7, num_actions=4, seed=0):
    model = NTMDialogueModel(token_sources(), **SIZES)
    model.build_all()
    sources = token_sources()
    rng = np.random.default_rng(seed)
    turns = (rng.uniform(size=[num_turns, sources.shape[0]]) < 0.3).astype(np.float32)
    labels = (rng.uniform(size=[num_actions, sources.shape[2]]) < 0.5).astype(np.float32)
    return model, turns, labels


def _padded(turns, restore, length):
    padded = np.zeros([length, turns.shape[1]], np.float32)
    padded[:len(turns)] = turns
    restores = np.full([length], -1, np.int32)
    restores[:len(restore)] = restore
    return padded, restores


def test_prediction_is_one_xla_program_with_a_loop_over_turns_and_matches_training_scores():
    model, turns, labels = _model_and_data()
    restore = np.full([7], -1, np.int32)
    restore[5] = 3
    padded, restores = _padded(turns, restore, bucket_length(7))
    args = (padded, restores, np.int32(7), labels, model.recurrence.empty_rows(0), np.int32(-1),
            np.zeros([4], np.int32))
    hlo = model.predict_last.experimental_get_compiler_ir(*args)(stage="hlo")
    assert hlo.count(" while(") == 1, "one loop over the turns, inside the XLA program"

    prediction = model.predict_last(*args)
    scores = model.scores(turns[None], restore[None], labels)[0, -1]
    np.testing.assert_allclose(prediction.probabilities.numpy(), tf.nn.softmax(scores).numpy(),
                               atol=1e-5)
    # the padding after the real turns changes nothing
    longer, longer_restore = _padded(turns, restore, 64)
    np.testing.assert_allclose(model.predict(longer, longer_restore, 7, labels)
                               .probabilities.numpy(), prediction.probabilities.numpy(),
                               atol=1e-6)


def _rows(history, turns):
    """The rows of a TurnHistory [T, 1, ...] at the given turns, as numpy."""
    return tf.nest.map_structure(lambda h: h.numpy()[list(turns)], history)


def test_a_prediction_resumed_from_kept_rows_equals_the_whole_dialogue_run_from_its_start():
    """Turns 0-5 run once, keeping the rows after turns 2 and 5; turns 6-9 then run from those
    two rows alone, turn 8 returning to the state after turn 2 (a digression restore into the
    saved rows) and turn 9 to the state after turn 7 (one of the new turns)."""
    model, turns, labels = _model_and_data(num_turns=10)
    restore = np.full([10], -1, np.int32)
    restore[4], restore[8], restore[9] = 1, 2, 7
    whole = model.predict(*_padded(turns, restore, 16), 10, labels)

    first = model.predict(*_padded(turns[:6], restore[:6], 16), 6, labels,
                          keep=np.array([2, 5, 0, 0], np.int32))
    saved = tf.nest.map_structure(lambda rows: rows.numpy(), first.kept)  # rows of turns 2, 5
    # in the resumed run, rows 0-3 are saved (turn 2, turn 5, padding), row 4 + i is turn 6 + i
    later = np.array([-1, -1, 0, 4 + 7 - 6], np.int32)
    resumed_args = (*_padded(turns[6:], later, 16), np.int32(4), labels, saved, np.int32(1),
                    np.array([4, 5, 6, 7], np.int32))
    hlo = model.predict_last.experimental_get_compiler_ir(*resumed_args)(stage="hlo")
    assert hlo.count(" while(") == 1, "resumed: still one loop, inside the XLA program"
    resumed = model.predict_last(*resumed_args)
    np.testing.assert_allclose(resumed.probabilities.numpy(), whole.probabilities.numpy(),
                               atol=1e-6)
    np.testing.assert_allclose(resumed.read_weights.numpy(), whole.read_weights.numpy(),
                               atol=1e-6)
    # the rows it hands back are those of the whole run: turns 6-9
    history = model.recurrence(tf.constant(turns[None]), tf.constant(restore[None]))
    for got, expected in zip(tf.nest.flatten(resumed.kept),
                             tf.nest.flatten(_rows(history, range(6, 10)))):
        np.testing.assert_allclose(got.numpy(), expected, atol=1e-6)
    # without the saved rows the same turns give another prediction: the rows are used
    cold = model.predict(*_padded(turns[6:], np.full([4], -1, np.int32), 16), 4, labels)
    assert not np.allclose(cold.probabilities.numpy(), whole.probabilities.numpy(), atol=1e-4)


def test_resuming_with_start_minus_one_is_the_dialogue_start():
    model, turns, labels = _model_and_data()
    restore = np.full([7], -1, np.int32)
    plain = model.predict(*_padded(turns, restore, 16), 7, labels)
    garbage = tf.nest.map_structure(lambda rows: rows + 3.0, model.recurrence.empty_rows(4))
    ignored = model.predict(*_padded(turns, restore, 16), 7, labels, saved=garbage, start=-1)
    np.testing.assert_allclose(ignored.probabilities.numpy(), plain.probabilities.numpy(),
                               atol=1e-6)
