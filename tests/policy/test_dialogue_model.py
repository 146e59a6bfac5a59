"""The dialogue model: its one recurrence over turns (digression restores, the mentioned tokens,
stopping at the batch's longest dialogue) and its scores (embeddings and token copy), against
plain Python and NumPy."""
import numpy as np
import pytest
import tensorflow as tf

from rasa_ntm_policy.model import NTMDialogueModel
from rasa_ntm_policy.padding import PAD_LABEL, active_turns
from rasa_ntm_policy.scoring import IDF_FLOOR, token_idf_weights
from rasa_ntm_policy.training import masked_loss_and_accuracy

# a made-up turn layout: columns 0-3 user features (0 and 1 name action tokens 4 and 5),
# 4-9 the previous action in label layout
TURN_SIZE, LABEL_SIZE = 10, 6
SIZES = dict(memory_slots=8, memory_width=4, read_heads=2, controller_units=16,
             embedding_dimension=6, dropout=0.2)


def token_sources():
    """[F, 2, L]: the previous action, then the user's source."""
    sources = np.zeros([TURN_SIZE, 2, LABEL_SIZE], np.float32)
    sources[4:, 0] = np.eye(LABEL_SIZE)
    sources[0, 1, 4] = sources[1, 1, 5] = 1.0
    return sources


@pytest.fixture(scope="module")
def model():
    tf.keras.utils.set_random_seed(0)
    model = NTMDialogueModel(token_sources(), **SIZES)
    model.build_all()
    return model


def random_turns(batch, length, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(size=[batch, length, TURN_SIZE]) < 0.3).astype(np.float32)


def outputs_of(model, turns, restore, active=None):
    """[B, T, O] the recurrence's outputs, batch-major."""
    history = model.recurrence(tf.constant(turns), tf.constant(restore), active)
    return tf.transpose(history.outputs, [1, 0, 2]).numpy()


def reference_outputs(model, turns, restore):
    """[B,T,O] by a Python loop over one dialogue at a time, restoring saved states by hand."""
    outputs = []
    for b in range(turns.shape[0]):
        state = model.recurrence.initial_state(1)
        saved, rows = [], []
        for t in range(turns.shape[1]):
            output, state = model.recurrence.step(turns[b:b + 1, t], state)
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
    outputs = outputs_of(model, turns, restore)
    np.testing.assert_allclose(outputs, reference_outputs(model, turns, restore), atol=1e-5)
    np.testing.assert_array_equal(outputs[0, 4], outputs[0, 1])
    np.testing.assert_array_equal(outputs[2, 7], outputs[2, 0])
    assert not np.allclose(outputs[0, 5], outputs[0, 2])  # turn 5 goes on from turn 1's state


def test_the_history_holds_every_turns_state_and_a_restore_brings_the_memory_back(model):
    turns = random_turns(1, 5, seed=2)
    restore = np.array([[-1, -1, -1, 1, -1]], np.int32)
    states = model.recurrence(tf.constant(turns), tf.constant(restore)).states
    memory = states.cell.memory.numpy()  # [T, B, N, W']
    assert memory.shape == (5, 1, 8, 4 + LABEL_SIZE)
    np.testing.assert_array_equal(memory[3], memory[1])
    assert not np.allclose(memory[2], memory[1])
    np.testing.assert_allclose(states.cell.read_weights.numpy().sum(-1), 1.0, atol=1e-5)


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
        assert gradient is not None
        np.testing.assert_allclose(tf.convert_to_tensor(gradient).numpy(),
                                   tf.convert_to_tensor(full).numpy(), atol=1e-6)
    hidden = outputs_of(model, turns, restore, tf.constant(6))
    assert not hidden[:, 6:].any(), "the padding turns after the loop stopped are zeros"


def test_every_weight_gets_a_gradient_and_it_matches_finite_differences(model):
    turns = random_turns(1, 4, seed=4)
    restore = np.array([[-1, -1, 0, -1]], np.int32)
    label_features = np.eye(4, LABEL_SIZE, dtype=np.float32)
    labels = np.array([[0, 1, 2, 3]], np.int32)
    with tf.GradientTape() as tape:
        loss, _ = masked_loss_and_accuracy(model.scores(turns, restore, label_features), labels)
    gradients = tape.gradient(loss, model.trainable_variables)
    assert all(g is not None and np.isfinite(tf.convert_to_tensor(g).numpy()).all()
               for g in gradients)
    variable = model.action_embedding.dense.kernel  # through the scores and the copy
    original = variable.numpy()
    index = (LABEL_SIZE - 1, 0)
    gradient = tf.convert_to_tensor(gradients[model.trainable_variables.index(variable)])
    try:
        losses = []
        for delta in (1e-2, -1e-2):
            shifted = original.copy()
            shifted[index] += delta
            variable.assign(shifted)
            losses.append(float(masked_loss_and_accuracy(
                model.scores(turns, restore, label_features), labels)[0]))
    finally:
        variable.assign(original)
    np.testing.assert_allclose((losses[0] - losses[1]) / 2e-2, gradient.numpy()[index],
                               rtol=0.05, atol=1e-4)


def test_the_mentioned_tokens_accumulate_and_a_restore_returns_to_the_earlier_bag(model):
    turns = np.zeros([1, 5, TURN_SIZE], np.float32)
    turns[0, 1, 0] = 1.0  # turn 1 names token 4
    turns[0, 3, 1] = 1.0  # turn 3 (a digression) names token 5
    restore = np.array([[-1, -1, -1, -1, 2]], np.int32)  # turn 4 returns to turn 2's state
    mentioned = outputs_of(model, turns, restore)[0, :, model.cell.output_size:]
    assert mentioned.shape == (5, LABEL_SIZE)
    np.testing.assert_array_equal(mentioned[:, 4:], [[0, 0], [1, 0], [1, 0], [1, 1], [1, 0]])
    assert not mentioned[:, :4].any()


def scores_with_gate_biases(model, turns, restore, labels, biases, baseline=0.0):
    """Scores with the token gates fixed at `biases`, and with them all at `baseline`."""
    gate = model.token_copy.gate
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
    turns = np.zeros([1, 2, TURN_SIZE], np.float32)
    turns[0, 1, [4, 7]] = 1.0  # previous action: tokens 0 and 3 (exactly action 0)
    turns[0, 0, 0] = 1.0  # the user names token 4
    return turns, np.full([1, 2], -1, np.int32)


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


def test_the_token_copy_is_a_gated_cosine_of_idf_weighted_tokens_and_an_exact_match(model):
    turns, restore = two_turns()
    # gates: cosine of previous 2, user 0, mentioned 3; exact match of previous 4
    biases = [2.0, 0.0, 3.0, 4.0, -50.0, -50.0]
    with_bonus, without = scores_with_gate_biases(model, turns, restore, TOKEN_LABELS, biases,
                                                  baseline=-50.0)
    weights = numpy_idf(TOKEN_LABELS)
    unit = TOKEN_LABELS * weights
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    cosine_previous = unit @ unit[0]  # the previous action is exactly action 0
    mentioned = np.zeros(LABEL_SIZE, np.float32)
    mentioned[4] = weights[4]  # token 4, named at turn 0
    cosine_mentioned = unit @ (mentioned / np.linalg.norm(mentioned))
    # action 1 shares only token 0 with action 0, which two actions have: less than the plain
    # cosine 1/sqrt(2)
    assert cosine_previous[1] < 1 / np.sqrt(2)
    # the baseline's gates of -50 (exact ones through a softplus: 0) are taken off; the user
    # names nothing at turn 1, so the user source's cosines are 0
    expected = (2 + 50) * cosine_previous + (3 + 50) * cosine_mentioned \
        + np.log1p(np.exp(4.0)) * np.array([1.0, 0, 0, 0])
    np.testing.assert_allclose(with_bonus[0, 1] - without[0, 1], expected, atol=1e-3)


@pytest.mark.parametrize("exact_gate", [-5.0, 0.0, 3.0])
def test_an_exact_copy_never_lowers_the_score_of_the_copied_action(model, exact_gate):
    turns, restore = two_turns()
    # exact-match gate of the previous action `exact_gate` (the others -50: no bonus), cosine
    # gates 0: the previous action (action 0) gets softplus(exact_gate), > 0 even for a negative
    # gate; the other actions lose the cosine gates' -50
    with_bonus, without = scores_with_gate_biases(model, turns, restore, TOKEN_LABELS,
                                                  [0.0, 0.0, 0.0, exact_gate, -50.0, -50.0],
                                                  baseline=-50.0)
    bonus = with_bonus[0, 1] - without[0, 1]
    weights = numpy_idf(TOKEN_LABELS)
    unit = TOKEN_LABELS * weights
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    mentioned = np.zeros(LABEL_SIZE, np.float32)
    mentioned[4] = 1.0
    cosines = unit @ unit[0] + unit @ mentioned
    np.testing.assert_allclose(bonus - 50 * cosines, [np.log1p(np.exp(exact_gate)), 0, 0, 0],
                               atol=1e-3)
    assert bonus[0] > 0


def test_the_scores_are_the_embedding_scores_and_the_token_copy_parts(model):
    rng = np.random.default_rng(5)
    turns = tf.constant((rng.uniform(size=[2, 4, TURN_SIZE]) < 0.3).astype(np.float32))
    labels = (rng.uniform(size=[4, LABEL_SIZE]) < 0.5).astype(np.float32)
    features = model.dialogue_features(turns, tf.fill([2, 4], -1))
    gates, overlap = model.token_copy.parts(features, labels)
    assert gates.shape == (2, 4, 6) and overlap.shape == (2, 4, 6, 4)  # 3 sources, and exact
    np.testing.assert_allclose(
        model.scores(turns, tf.fill([2, 4], -1), labels).numpy(),
        (model.embedding_scores(features, labels) + tf.einsum("...k,...ka->...a", gates, overlap)
         ).numpy(), atol=1e-5)


def test_the_action_embedding_is_a_sum_of_token_embeddings(model):
    """An action's embedding before normalisation is its tokens' embeddings added up (and a
    bias), so an action never trained on scores from the tokens it shares with those that were."""
    def unnormalised(tokens):
        return model.action_embedding.unnormalised(tf.constant([tokens], tf.float32))[0]

    first, second = [0, 1, 0, 1, 0, 0], [1, 0, 0, 0, 1, 0]
    both = np.add(first, second).tolist()
    nothing = unnormalised([0] * LABEL_SIZE)
    np.testing.assert_allclose(unnormalised(both),
                               unnormalised(first) + unnormalised(second) - nothing, atol=1e-5)


def test_a_turn_with_no_features_and_no_labels_stays_finite(model):
    """All-zero turns and an action with no label features: the cosines' 0/0 stays finite."""
    labels = np.zeros([3, LABEL_SIZE], np.float32)
    labels[1, 2] = 1.0
    padded = np.zeros([16, TURN_SIZE], np.float32)
    prediction = model.predict(padded, np.full([16], -1, np.int32), 3, labels)
    p = prediction.probabilities.numpy()
    assert p.shape == (3,) and np.isfinite(p).all() and abs(p.sum() - 1) < 1e-5


@pytest.mark.parametrize("restore_at", [None, 4])
def test_prediction_is_the_training_recurrence_stopped_at_the_last_turn(model, restore_at):
    rng = np.random.default_rng(3)
    turns = (rng.uniform(size=[6, TURN_SIZE]) < 0.3).astype(np.float32)
    labels = (rng.uniform(size=[4, LABEL_SIZE]) < 0.5).astype(np.float32)
    restore = np.full([16], -1, np.int32)
    if restore_at is not None:
        restore[restore_at] = 1
    padded = np.zeros([16, TURN_SIZE], np.float32)
    padded[:6] = turns
    prediction = model.predict(padded, restore, 6, labels)
    scores = model.scores(turns[None], restore[None, :6], labels)[0, -1]
    np.testing.assert_allclose(prediction.probabilities.numpy(), tf.nn.softmax(scores).numpy(),
                               atol=1e-5)
    assert prediction.read_weights.shape == (model.cell.read_heads, 8)
    assert prediction.write_weights.shape == (model.cell.write_heads, 8)


def test_the_copy_embeds_the_action_the_first_read_head_brought_back(model):
    """With the dense part silenced and the copy gate open, the dialogue embedding is the
    (scaled) embedding of the stored action in the first read vector's first L columns."""
    from rasa_ntm_policy.scoring import SIMILARITY_SCALE, DialogueFeatures

    layer = model.dialogue_embedding
    saved = [v.numpy() for v in layer.dense.weights + layer.copy_gate.weights]
    stored = np.array([0, 1, 1, 0, 0, 1], np.float32)
    reads = np.zeros([1, layer.read_size], np.float32)
    reads[0, :LABEL_SIZE] = stored
    cell_output = np.concatenate([np.ones([1, model.cell.units], np.float32), reads], -1)
    features = DialogueFeatures(tf.constant(cell_output), tf.zeros([1, LABEL_SIZE]),
                                tf.zeros([1, TURN_SIZE]))
    try:
        for v in layer.dense.weights + [layer.copy_gate.kernel]:
            v.assign(tf.zeros_like(v))
        layer.copy_gate.bias.assign([50.0])
        embedding = layer(features).numpy()[0]
    finally:
        for v, value in zip(layer.dense.weights + layer.copy_gate.weights, saved):
            v.assign(value)
    expected = model.action_embedding(tf.constant(stored[None])).numpy()[0] * SIMILARITY_SCALE
    np.testing.assert_allclose(embedding, expected, atol=1e-4)
