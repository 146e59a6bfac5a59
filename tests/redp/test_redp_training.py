"""Training REDP (redp/training.py): batch sizes, loss scales, negatives, the margin loss."""
import numpy as np
import pytest
import tensorflow as tf

from rasa_ntm_policy.padding import PAD_LABEL
from rasa_ntm_policy.redp.config import DEFAULTS
from rasa_ntm_policy.redp.model import DialogueOutputs, REDPModel
from rasa_ntm_policy.redp.training import (DialogueData, accuracy, batch_size_for_epoch,
                                           loss_scales, margin_loss, sample_negatives)

CONFIG = {**DEFAULTS, "rnn_size": 8, "embed_dim": 5}


@pytest.fixture(scope="module")
def model():
    model = REDPModel(3, 2, 4, CONFIG, 1)
    model.build_all()
    return model


# --- batch size -----------------------------------------------------------------------------
def test_batch_size_grows_linearly_from_first_to_last():
    sizes = [batch_size_for_epoch([8, 32], epoch, 25) for epoch in range(25)]
    assert sizes == list(range(8, 33))
    sizes = [batch_size_for_epoch([8, 32], epoch, 100) for epoch in range(100)]
    assert sizes[0] == 8 and sizes[-1] == 32
    assert all(a <= b for a, b in zip(sizes, sizes[1:]))
    # rasa_core's formula: int(first + epoch * (last - first) / (epochs - 1))
    assert sizes == [int(8 + e * 24 / 99) for e in range(100)]
    assert all(isinstance(s, int) for s in sizes)


def test_an_int_batch_size_stays_and_one_epoch_uses_the_first():
    assert {batch_size_for_epoch(16, e, 50) for e in range(50)} == {16}
    assert batch_size_for_epoch([8, 32], 0, 1) == 8
    assert batch_size_for_epoch((4, 4), 7, 10) == 4


# --- loss scales ----------------------------------------------------------------------------
def data_from(turns, labels):
    """turns [B, T] of small ints -> one-hot-ish user/slot/previous features."""
    turns = np.asarray(turns)
    user = np.eye(4, dtype=np.float32)[turns % 4]
    slots = np.eye(2, dtype=np.float32)[(turns // 4) % 2]
    previous = np.eye(3, dtype=np.float32)[(turns // 8) % 3]
    return DialogueData(user, slots, previous, np.asarray(labels, np.int32))


def test_rarer_turn_label_pairs_get_larger_scales():
    # pairs: (0, 1) three times, (1, 2) once, (0, 3) once; the last turns are padding
    data = data_from([[0, 0, 1, 5], [0, 0, 6, 7]], [[1, 1, 2, -1], [1, 3, -1, -1]])
    scales = loss_scales(data)
    mean = (3 + 1 + 1) / 3  # the mean count over the distinct pairs
    expected = [[1.0, 1.0, np.sqrt(mean / 1), 1.0], [1.0, np.sqrt(mean / 1), 1.0, 1.0]]
    np.testing.assert_allclose(scales, expected, rtol=1e-6)
    assert scales.dtype == np.float32 and np.all(scales >= 1.0)
    # the same features with another label is another pair (row 1, turn 1 is rare)
    assert scales[1, 1] > scales[0, 0]


def test_padded_turns_neither_count_nor_get_scaled():
    base = data_from([[0, 0, 1, 5], [0, 2, 6, 7]], [[1, 1, 2, -1], [1, 3, -1, -1]])
    # padding that repeats the rare pair (1, 2) many times changes nothing
    other = data_from([[0, 0, 1, 1], [0, 2, 1, 1]], [[1, 1, 2, -1], [1, 3, -1, -1]])
    other.labels[other.labels == PAD_LABEL] = PAD_LABEL
    np.testing.assert_array_equal(loss_scales(base), loss_scales(other))
    assert np.all(loss_scales(base)[base.labels == PAD_LABEL] == 1.0)
    empty = data_from([[0, 1]], [[-1, -1]])
    np.testing.assert_array_equal(loss_scales(empty), np.ones([1, 2]))


def test_equally_frequent_pairs_all_get_scale_one():
    data = data_from([[0, 1, 2], [2, 1, 0]], [[0, 1, 2], [2, 1, 0]])
    np.testing.assert_array_equal(loss_scales(data), np.ones([2, 3]))


# --- negatives ------------------------------------------------------------------------------
def test_negatives_never_the_label_and_cover_every_other_action_uniformly():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 6, size=[8, 10]).astype(np.int32)
    labels[0, 7:] = PAD_LABEL
    negatives = sample_negatives(tf.constant(labels), 6, 200, tf.constant([1, 2])).numpy()
    assert negatives.shape == (8, 10, 200) and negatives.dtype == np.int32
    assert negatives.min() >= 0 and negatives.max() <= 5
    real = labels != PAD_LABEL
    assert not np.any(negatives[real] == labels[real][:, None])
    for label in range(6):
        drawn = negatives[labels == label].ravel()
        counts = np.bincount(drawn, minlength=6)
        assert counts[label] == 0
        others = np.delete(counts, label)
        assert others.min() > 0.7 * drawn.size / 5 and others.max() < 1.3 * drawn.size / 5


def test_negatives_are_seeded():
    labels = tf.constant([[0, 1, 2, 3]], tf.int32)
    a = sample_negatives(labels, 4, 5, tf.constant([3, 4])).numpy()
    np.testing.assert_array_equal(a, sample_negatives(labels, 4, 5, tf.constant([3, 4])).numpy())
    assert not np.array_equal(a, sample_negatives(labels, 4, 5, tf.constant([3, 5])).numpy())


def test_two_actions_give_the_other_one_as_every_negative():
    labels = tf.constant([[0, 1, 1, 0]], tf.int32)
    negatives = sample_negatives(labels, 2, 3, tf.constant([0, 0])).numpy()
    np.testing.assert_array_equal(negatives[0], [[1] * 3, [0] * 3, [0] * 3, [1] * 3])


# --- margin loss ----------------------------------------------------------------------------
def normalise(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def ref_margin_loss(embeddings, likelihoods, actions, labels, negatives, scales, config):
    """rasa_core's _tf_loss, loop by loop, with cosine similarity."""

    def cos(a, b):
        return float(np.dot(normalise(a), normalise(b)))

    per_dialogue = []
    for b in range(labels.shape[0]):
        turns = []
        for t in range(labels.shape[1]):
            if labels[b, t] == PAD_LABEL:
                continue
            d, pos = embeddings[b, t], actions[labels[b, t]]
            negs = [actions[k] for k in negatives[b, t]]
            loss = max(0.0, config["mu_pos"] - cos(d, pos))
            sims = [cos(d, n) for n in negs]
            if config["use_max_sim_neg"]:
                loss += max(0.0, config["mu_neg"] + max(sims))
            else:
                loss += sum(max(0.0, config["mu_neg"] + s) for s in sims)
            if config["scale_loss_by_action_counts"]:
                loss *= scales[b, t]
            loss += config["C_emb"] * max(0.0, max(cos(pos, n) for n in negs))
            loss += sum(max(0.0, 1.0 - lik[b, t]) for lik in likelihoods)
            turns.append(loss)
        if turns:
            per_dialogue.append(np.mean(turns))
    return np.mean(per_dialogue)


def loss_case(seed=0, batch=3, turns=5, actions=6, k=3):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, actions, size=[batch, turns]).astype(np.int32)
    labels[0, 3:] = PAD_LABEL
    labels[1, 1:] = PAD_LABEL  # a dialogue of a single turn
    negatives = sample_negatives(tf.constant(labels), actions, k, tf.constant([seed, 1])).numpy()
    return dict(embeddings=rng.normal(size=[batch, turns, 5]).astype(np.float32),
                likelihoods=[rng.uniform(0.2, 1.0, size=[batch, turns]).astype(np.float32)
                             for _ in range(2)],
                actions=rng.normal(size=[actions, 5]).astype(np.float32), labels=labels,
                negatives=negatives,
                scales=rng.uniform(1.0, 3.0, size=[batch, turns]).astype(np.float32))


def tf_loss(model, case, config):
    outputs = DialogueOutputs(tf.constant(case["embeddings"]), *map(tf.constant,
                                                                    case["likelihoods"]))
    return float(margin_loss(model, outputs, tf.constant(case["actions"]), case["labels"],
                             case["negatives"], case["scales"], config))


@pytest.mark.parametrize("options", [{}, {"use_max_sim_neg": False},
                                     {"scale_loss_by_action_counts": False},
                                     {"C_emb": 0.0, "mu_pos": 0.5, "mu_neg": -0.4}])
def test_margin_loss_matches_reference(model, options):
    config = {**CONFIG, **options}
    for seed in range(3):
        case = loss_case(seed)
        np.testing.assert_allclose(tf_loss(model, case, config),
                                   ref_margin_loss(**case, config=config), rtol=1e-5)


def test_margin_loss_is_zero_when_every_margin_is_met(model):
    """Positives at similarity mu_pos = 0.8, negatives at -mu_neg = 0.2 or below, actions
    orthogonal, copy likelihoods 1: nothing to learn."""
    actions = np.eye(5, dtype=np.float32)
    d = np.stack([0.8 * actions[0] + 0.2 * actions[1] + np.sqrt(1 - 0.68) * actions[4],
                  actions[2], 0.9 * actions[3] - np.sqrt(1 - 0.81) * actions[1]])
    case = dict(embeddings=d[None].astype(np.float32),
                likelihoods=[np.ones([1, 3], np.float32)] * 2, actions=actions,
                labels=np.array([[0, 2, 3]], np.int32),
                negatives=np.array([[[1, 2, 3], [0, 1, 3], [0, 1, 2]]], np.int32),
                scales=np.full([1, 3], 2.0, np.float32))
    assert tf_loss(model, case, CONFIG) == pytest.approx(0.0, abs=1e-6)
    # one negative a little too close: a loss of exactly the excess (times the scale)
    case["embeddings"][0, 1] = normalise(actions[2] + 0.5 * actions[1])
    excess = -0.2 + 0.5 / np.sqrt(1.25)
    positive = max(0.0, 0.8 - 1 / np.sqrt(1.25))
    assert tf_loss(model, case, CONFIG) == pytest.approx(2.0 * (excess + positive) / 3, abs=1e-5)


def test_padded_turns_and_filler_dialogues_are_ignored(model):
    case = loss_case(4)
    base = tf_loss(model, case, CONFIG)
    # anything at padded turns: other embeddings, likelihoods, scales, negatives
    changed = {k: (v.copy() if isinstance(v, np.ndarray) else [x.copy() for x in v])
               for k, v in case.items()}
    pad = case["labels"] == PAD_LABEL
    changed["embeddings"][pad] = 100.0
    changed["likelihoods"][0][pad] = -5.0
    changed["scales"][pad] = 50.0
    changed["negatives"][pad] = 0
    assert tf_loss(model, changed, CONFIG) == pytest.approx(base, rel=1e-6)
    # a batch filler (every label padded) does not dilute the mean over the real dialogues
    filled = {k: (v if k == "actions" else np.concatenate([v, v[:1]]) if isinstance(v, np.ndarray)
                  else [np.concatenate([x, x[:1]]) for x in v]) for k, v in case.items()}
    filled["labels"][-1] = PAD_LABEL
    assert tf_loss(model, filled, CONFIG) == pytest.approx(base, rel=1e-6)
    # and neither gets a gradient
    embeddings = tf.Variable(filled["embeddings"])
    with tf.GradientTape() as tape:
        outputs = DialogueOutputs(embeddings, *map(tf.constant, filled["likelihoods"]))
        loss = margin_loss(model, outputs, tf.constant(filled["actions"]), filled["labels"],
                           filled["negatives"], filled["scales"], CONFIG)
    grad = tape.gradient(loss, embeddings).numpy()
    assert np.all(grad[filled["labels"] == PAD_LABEL] == 0.0)
    assert np.any(grad[filled["labels"] != PAD_LABEL] != 0.0)
    assert np.all(np.isfinite(grad))


def test_each_dialogue_counts_equally_whatever_its_length(model):
    case = loss_case(5)
    def take(index):
        return {k: (v if k == "actions" else v[index] if isinstance(v, np.ndarray)
                    else [x[index] for x in v]) for k, v in case.items()}

    one, rest = take([1]), take([0, 2])
    # the mean over 3 dialogues: 1/3 of the single-turn one, 2/3 of the mean of the others
    expected = tf_loss(model, one, CONFIG) / 3 + 2 * tf_loss(model, rest, CONFIG) / 3
    assert tf_loss(model, case, CONFIG) == pytest.approx(expected, rel=1e-5)


def test_accuracy_counts_real_turns_only(model):
    actions = np.eye(3, dtype=np.float32)
    embeddings = np.array([[actions[0], actions[1], actions[2], actions[0]]], np.float32)
    labels = np.array([[0, 1, 0, PAD_LABEL]], np.int32)
    assert float(accuracy(model, embeddings, actions, labels)) == pytest.approx(2 / 3)
    assert float(accuracy(model, embeddings, actions, np.full([1, 4], PAD_LABEL))) == 0.0
