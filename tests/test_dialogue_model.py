"""The dialogue model's loop over turns: digression restores, and stopping at the batch's
longest dialogue (training), against a plain Python loop over the cell."""
import numpy as np
import pytest
import tensorflow as tf

from rasa_ntm_policy.config import DEFAULTS
from rasa_ntm_policy.model import IDF_FLOOR, NTMDialogueModel, token_idf_weights
from rasa_ntm_policy.training import PAD_LABEL, active_turns, masked_loss_and_accuracy

TURN_SIZE, LABEL_SIZE = 12, 5


@pytest.fixture(scope="module")
def model():
    model = NTMDialogueModel(TURN_SIZE, LABEL_SIZE,
                             {**DEFAULTS, "memory_slots": 8, "controller_units": 16})
    model.build_all()
    return model


def random_turns(batch, length, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(size=[batch, length, TURN_SIZE]) < 0.3).astype(np.float32)


def reference_outputs(model, turns, restore):
    """[B,T,O] by a Python loop over one dialogue at a time, restoring saved states by hand."""
    outputs = []
    for b in range(turns.shape[0]):
        state = model.cell.get_initial_state(batch_size=1)
        saved, rows = [], []
        for t in range(turns.shape[1]):
            output, state = model.cell(turns[b:b + 1, t], state)
            if restore[b, t] >= 0:
                output, state = saved[restore[b, t]]
            saved.append((output, state))
            rows.append(output[0])
        outputs.append(tf.stack(rows))
    return tf.stack(outputs).numpy()


def test_a_restore_returns_to_the_saved_state_of_that_turn(model):
    turns = random_turns(3, 9)
    restore = np.full([3, 9], -1, np.int32)
    restore[0, 4] = 1  # turns 2-4 were a digression: back to the state after turn 1
    restore[1, 8] = 6
    restore[2, 3], restore[2, 7] = 0, 3  # a restore to a turn that was itself restored
    outputs = model.run_turns(tf.constant(turns), tf.constant(restore)).numpy()
    np.testing.assert_allclose(outputs, reference_outputs(model, turns, restore), atol=1e-5)
    np.testing.assert_array_equal(outputs[0, 4], outputs[0, 1])
    np.testing.assert_array_equal(outputs[2, 7], outputs[2, 0])
    assert not np.allclose(outputs[0, 5], outputs[0, 2])  # turn 5 goes on from turn 1's state


def test_active_turns_is_the_longest_dialogue():
    labels = np.full([3, 6], PAD_LABEL, np.int32)
    labels[0, :2], labels[1, :5], labels[2, :1] = 0, 1, 2
    assert int(active_turns(tf.constant(labels))) == 5
    assert int(active_turns(tf.fill([2, 4], PAD_LABEL))) == 0


def test_stopping_at_the_longest_dialogue_changes_no_score_and_no_gradient(model):
    turns = random_turns(2, 10, seed=1)
    turns[:, 6:] = 0.0  # both dialogues are 6 turns long, padded to 10
    restore = np.full([2, 10], -1, np.int32)
    restore[1, 5] = 2
    labels = np.full([2, 10], PAD_LABEL, np.int32)
    labels[:, :6] = [[0, 1, 2, 3, 0, 1], [2, 2, 1, 0, 3, 3]]
    label_features = np.eye(4, LABEL_SIZE, dtype=np.float32)

    def loss_and_gradients(active):
        with tf.GradientTape() as tape:
            scores = model.scores(turns, restore, label_features, active_turns=active)
            loss, _ = masked_loss_and_accuracy(scores, labels)
        return scores.numpy(), loss.numpy(), tape.gradient(loss, model.trainable_variables)

    full_scores, full_loss, full_gradients = loss_and_gradients(None)
    scores, loss, gradients = loss_and_gradients(active_turns(labels))
    np.testing.assert_allclose(scores[:, :6], full_scores[:, :6], atol=1e-6)
    np.testing.assert_allclose(loss, full_loss, rtol=1e-6)
    for gradient, full in zip(gradients, full_gradients):
        np.testing.assert_allclose(tf.convert_to_tensor(gradient).numpy(),
                                   tf.convert_to_tensor(full).numpy(), atol=1e-6)
    hidden = model.run_turns(tf.constant(turns), tf.constant(restore), tf.constant(6)).numpy()
    assert not hidden[:, 6:].any(), "the padding turns after the loop stopped are zeros"


def token_model(turn_size=10, label_size=6, exact=False, only_adds=False, idf=False):
    """A model with token copy and the mentioned-token bag, over a made-up turn layout:
    columns 0-3 user features (0 and 1 name action tokens 4 and 5), 4-9 the previous action."""
    sources = np.zeros([turn_size, 2, label_size], np.float32)
    sources[4:, 0] = np.eye(label_size)  # previous action
    sources[0, 1, 4] = sources[1, 1, 5] = 1.0  # user -> action tokens
    model = NTMDialogueModel(turn_size, label_size,
                             {**DEFAULTS, "memory_slots": 8, "controller_units": 16,
                              "token_copy": True, "mentioned_tokens": True,
                              "token_copy_exact": exact, "exact_copy_only_adds": only_adds,
                              "token_idf": idf},
                             sources)
    model.build_all()
    return model, sources


def test_the_mentioned_tokens_accumulate_and_a_restore_returns_to_the_earlier_bag():
    model, _ = token_model()
    turns = np.zeros([1, 5, 10], np.float32)
    turns[0, 1, 0] = 1.0  # turn 1 names token 4
    turns[0, 3, 1] = 1.0  # turn 3 (a digression) names token 5
    restore = np.array([[-1, -1, -1, -1, 2]], np.int32)  # turn 4 returns to turn 2's state
    outputs = model.run_turns(tf.constant(turns), tf.constant(restore)).numpy()
    mentioned = outputs[0, :, model.cell.output_size:]
    assert mentioned.shape == (5, 6)
    np.testing.assert_array_equal(mentioned[:, 4:], [[0, 0], [1, 0], [1, 0], [1, 1], [1, 0]])
    assert not mentioned[:, :4].any()


def bonus_with_gate_biases(model, turns, restore, labels, biases, baseline=0.0):
    """Scores with the token gates fixed at `biases`, and with them all at `baseline`."""
    gate = model.token_gate
    kernel, bias = gate.kernel.numpy(), gate.bias.numpy()
    try:
        gate.kernel.assign(np.zeros_like(kernel))
        gate.bias.assign(biases)
        with_bonus = model.scores(turns, restore, labels).numpy()
        gate.bias.assign(np.full_like(bias, baseline))
        return with_bonus, model.scores(turns, restore, labels).numpy()
    finally:
        gate.kernel.assign(kernel)
        gate.bias.assign(bias)


TOKEN_LABELS = np.array([[1, 0, 0, 1, 0, 0], [1, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0],
                         [0, 0, 0, 0, 1, 1]], np.float32)


def two_turns():
    turns = np.zeros([1, 2, 10], np.float32)
    turns[0, 1, [4, 7]] = 1.0  # previous action: tokens 0 and 3 (exactly action 0)
    turns[0, 0, 0] = 1.0
    return turns, np.full([1, 2], -1, np.int32)


def test_token_copy_adds_a_gated_cosine_between_each_source_and_each_action():
    model, _ = token_model()
    turns, restore = two_turns()
    # gates: previous action 2, user 0, mentioned 3
    with_bonus, without = bonus_with_gate_biases(model, turns, restore, TOKEN_LABELS,
                                                 [2.0, 0.0, 3.0])
    cosine_previous = np.array([1.0, 1 / np.sqrt(2), 0.0, 0.0])
    cosine_mentioned = np.array([0.0, 0.0, 0.0, 1 / np.sqrt(2)])  # token 4, named at turn 0
    np.testing.assert_allclose(with_bonus[0, 1] - without[0, 1],
                               2 * cosine_previous + 3 * cosine_mentioned, atol=1e-5)
    np.testing.assert_allclose(with_bonus[0, 0] - without[0, 0], 3 * cosine_mentioned,
                               atol=1e-5)


def test_token_copy_exact_adds_a_gated_bonus_for_the_very_action_of_a_source():
    model, _ = token_model(exact=True)
    turns, restore = two_turns()
    # cosine gates 0; exact-match gates: previous action 5, user 0, mentioned 0
    with_bonus, without = bonus_with_gate_biases(model, turns, restore, TOKEN_LABELS,
                                                 [0.0, 0.0, 0.0, 5.0, 0.0, 0.0])
    np.testing.assert_allclose(with_bonus[0, 1] - without[0, 1], [5.0, 0.0, 0.0, 0.0], atol=1e-5)
    np.testing.assert_allclose(with_bonus[0, 0] - without[0, 0], 0.0, atol=1e-5)


def numpy_idf(labels):
    """[L] the idf weights of labels [A, L], written out in NumPy."""
    having = (labels > 0).sum(0)
    return np.log((len(labels) + 1) / (having + 1)) + IDF_FLOOR


def test_idf_weights_are_small_for_a_token_every_action_has_and_large_for_a_rare_one():
    weights = token_idf_weights(TOKEN_LABELS).numpy()  # 4 actions; tokens had by 2, 1, 0, 1, 1, 1
    np.testing.assert_allclose(weights, np.log(5 / np.array([3, 2, 1, 2, 2, 2])) + IDF_FLOOR,
                               rtol=1e-6)
    np.testing.assert_allclose(weights, numpy_idf(TOKEN_LABELS), rtol=1e-6)
    everywhere = token_idf_weights(np.ones([3, 2], np.float32)).numpy()
    np.testing.assert_allclose(everywhere, [IDF_FLOOR, IDF_FLOOR], rtol=1e-6)
    assert weights[2] > weights[1] > weights[0] > 0  # no action, one action, two actions


@pytest.mark.parametrize("exact", [False, True])
def test_with_token_idf_the_token_copy_is_the_cosine_of_the_idf_weighted_tokens(exact):
    model, _ = token_model(exact=exact, idf=True)
    turns, restore = two_turns()
    biases = [2.0, 0.0, 3.0] + ([4.0, 0.0, 0.0] if exact else [])
    with_bonus, without = bonus_with_gate_biases(model, turns, restore, TOKEN_LABELS, biases)
    weights = numpy_idf(TOKEN_LABELS)
    weighted = TOKEN_LABELS * weights
    unit = weighted / np.linalg.norm(weighted, axis=1, keepdims=True)
    cosine_previous = unit @ unit[0]  # the previous action is exactly action 0
    mentioned = np.zeros(6, np.float32)
    mentioned[4] = weights[4]  # token 4, named at turn 0
    cosine_mentioned = unit @ (mentioned / np.linalg.norm(mentioned))
    # action 1 shares only token 0 with action 0, which two actions have: less than the plain
    # cosine 1/sqrt(2)
    assert cosine_previous[1] < 1 / np.sqrt(2)
    expected = 2 * cosine_previous + 3 * cosine_mentioned
    if exact:
        expected = expected + 4.0 * np.array([1.0, 0, 0, 0])  # the exact match is still exact
    np.testing.assert_allclose(with_bonus[0, 1] - without[0, 1], expected, atol=1e-4)


@pytest.mark.parametrize("exact_gate", [-5.0, 0.0, 3.0])
def test_an_exact_copy_that_only_adds_never_lowers_the_score_of_the_copied_action(exact_gate):
    model, _ = token_model(exact=True, only_adds=True)
    turns, restore = two_turns()
    # exact-match gate of the previous action `exact_gate` (the others -50: no bonus), cosine
    # gates 0: the previous action (action 0) gets softplus(exact_gate), > 0 even for a negative
    # gate; the other actions lose the cosine gates' -50
    with_bonus, without = bonus_with_gate_biases(model, turns, restore, TOKEN_LABELS,
                                                 [0.0, 0.0, 0.0, exact_gate, -50.0, -50.0],
                                                 baseline=-50.0)
    bonus = with_bonus[0, 1] - without[0, 1]
    cosine_previous = np.array([1.0, 1 / np.sqrt(2), 0.0, 0.0])
    cosine_mentioned = np.array([0.0, 0.0, 0.0, 1 / np.sqrt(2)])
    np.testing.assert_allclose(bonus - 50 * (cosine_previous + cosine_mentioned),
                               [np.log1p(np.exp(exact_gate)), 0.0, 0.0, 0.0], atol=1e-4)
    assert bonus[0] > 0


@pytest.mark.parametrize("options", [{}, {"exact": True, "only_adds": True}])
def test_prediction_with_token_copy_matches_the_training_scores(options):
    model, _ = token_model(**options)
    rng = np.random.default_rng(3)
    turns = (rng.uniform(size=[6, 10]) < 0.3).astype(np.float32)
    labels = (rng.uniform(size=[4, 6]) < 0.5).astype(np.float32)
    padded = np.zeros([16, 10], np.float32)
    padded[:6] = turns
    prediction = model.predict_last(padded, np.int32(6), turns[-1], labels)
    scores = model.scores(turns[None], tf.fill([1, 6], -1), labels)[0, -1]
    np.testing.assert_allclose(prediction.probabilities.numpy(), tf.nn.softmax(scores).numpy(),
                               atol=1e-5)
    assert prediction.read_weights.shape == (model.cell.read_heads, 8)
    assert prediction.write_weights.shape == (model.cell.write_heads, 8)


def test_the_scores_are_the_embedding_scores_and_the_token_copy_parts():
    model, _ = token_model(exact=True, only_adds=True)
    rng = np.random.default_rng(5)
    turns = tf.constant((rng.uniform(size=[2, 4, 10]) < 0.3).astype(np.float32))
    labels = (rng.uniform(size=[4, 6]) < 0.5).astype(np.float32)
    features = model.dialogue_features(turns, tf.fill([2, 4], -1))
    gates, overlap = model.token_copy_parts(features, labels)
    assert gates.shape == (2, 4, 6) and overlap.shape == (2, 4, 6, 4)  # 3 sources, and exact
    np.testing.assert_allclose(
        model.scores(turns, tf.fill([2, 4], -1), labels).numpy(),
        (model.embedding_scores(features, labels) + tf.einsum("...k,...ka->...a", gates, overlap)
         ).numpy(), atol=1e-5)


@pytest.mark.parametrize("hidden_units, additive", [(0, True), (32, False)])
def test_the_default_action_embedding_is_a_sum_of_token_embeddings(hidden_units, additive):
    """With label_hidden_units 0 (the default) an action's embedding before normalisation is
    its tokens' embeddings added up (and a bias), so an action never trained on scores from the
    tokens it shares with those that were; a hidden layer makes it a function of the whole set."""
    assert DEFAULTS["label_hidden_units"] == 0
    model = NTMDialogueModel(TURN_SIZE, LABEL_SIZE,
                             {**DEFAULTS, "memory_slots": 8, "controller_units": 16,
                              "label_hidden_units": hidden_units})
    model.build_all()

    def unnormalised(tokens):
        return model.label_embedding(model.label_hidden(tf.constant([tokens], tf.float32)))[0]

    first, second = [0, 1, 0, 1, 0], [1, 0, 0, 0, 1]
    both = np.add(first, second).tolist()
    nothing = unnormalised([0] * LABEL_SIZE)
    summed = unnormalised(first) + unnormalised(second) - nothing
    assert np.allclose(unnormalised(both), summed, atol=1e-5) == additive
