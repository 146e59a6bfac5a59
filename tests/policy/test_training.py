"""train_model: weight averaging over the last epochs."""
import numpy as np
import pytest
import tensorflow as tf

import rasa_ntm_policy.training as training
from rasa_ntm_policy.config import DEFAULTS
from rasa_ntm_policy.model import NTMDialogueModel
from rasa_ntm_policy.padding import PAD_LABEL
from rasa_ntm_policy.training import averaged_epochs, train_model
from tests.policy.test_dialogue_model import LABEL_SIZE, SIZES, TURN_SIZE, token_sources

ACTIONS = 4


@pytest.mark.parametrize("epochs, fraction, expected", [
    (200, 0.0, 0), (200, 0.25, 50), (200, 1.0, 200), (3, 0.1, 1), (1, 0.5, 1)])
def test_averaged_epochs_is_a_fraction_of_the_epochs_and_at_least_one(epochs, fraction, expected):
    assert averaged_epochs(epochs, fraction) == expected


def training_data(seed=0):
    rng = np.random.default_rng(seed)
    turns = (rng.uniform(size=[5, 7, TURN_SIZE]) < 0.3).astype(np.float32)
    restore = np.full([5, 7], -1, np.int32)
    labels = rng.integers(0, ACTIONS, size=[5, 7]).astype(np.int32)
    labels[0, 4:] = PAD_LABEL
    label_features = (rng.uniform(size=[ACTIONS, LABEL_SIZE]) < 0.5).astype(np.float32)
    return turns, restore, labels, label_features


def new_model(epochs=1):
    config = {**DEFAULTS, **SIZES, "epochs": epochs, "batch_size": 2}
    model = NTMDialogueModel(token_sources(), **SIZES)
    model.build_all()
    return model, config


def trained_weights(initial, epochs, weight_averaging, monkeypatch):
    """The weights after training a model that starts from the weights `initial`."""
    monkeypatch.setattr(training, "WEIGHT_AVERAGING", weight_averaging)
    model, config = new_model(epochs)
    model.set_weights(initial)
    train_model(model, *training_data(), config, tf.keras.optimizers.Adam(0.01),
                show_progress=False)
    return model.get_weights()


@pytest.mark.slow
def test_weight_averaging_ends_with_the_mean_of_the_last_epochs_weights(monkeypatch):
    initial = new_model()[0].get_weights()
    after_two = trained_weights(initial, 2, 0.0, monkeypatch)
    after_three = trained_weights(initial, 3, 0.0, monkeypatch)
    averaged = trained_weights(initial, 3, 0.5, monkeypatch)  # the last 2 of 3 epochs
    for a, b, mean in zip(after_two, after_three, averaged):
        np.testing.assert_allclose(mean, (a + b) / 2, atol=1e-5)
    assert any(not np.allclose(a, b, atol=1e-4) for a, b in zip(after_two, after_three))
    assert any(not np.allclose(m, b, atol=1e-4) for m, b in zip(averaged, after_three))


@pytest.mark.slow
def test_averaging_one_epoch_keeps_its_weights(monkeypatch):
    initial = new_model()[0].get_weights()
    for kept, last in zip(trained_weights(initial, 1, 1.0, monkeypatch),
                          trained_weights(initial, 1, 0.0, monkeypatch)):
        np.testing.assert_allclose(kept, last, atol=1e-6)


def test_the_running_mean_is_the_mean_of_what_was_added():
    mean = training.RunningMean()
    assert mean.mean is None
    for values in ([1.0, 10.0], [2.0, 20.0], [6.0, 0.0]):
        mean.add([np.array(v) for v in values])
    np.testing.assert_allclose([m.item() for m in mean.mean], [3.0, 10.0])
    assert mean.count == 3


@pytest.mark.slow
def test_early_stopping_scores_and_keeps_the_mean_of_the_weights_since_the_last_check(
        monkeypatch):
    """Two epochs, one check after the second: the model ends with the mean of the weights
    after epoch 1 and after epoch 2, while training went on from epoch 2's own weights."""
    for name, value in (("MIN_HELD_OUT", 1), ("HELD_OUT_FRACTION", 0.4), ("PATIENCE", 5)):
        monkeypatch.setattr(training, name, value)
    data = training_data(seed=1)
    initial = new_model()[0].get_weights()
    after = {}
    for check_every, epochs in ((1, 1), (1, 2), (2, 2)):
        monkeypatch.setattr(training, "CHECK_EVERY", check_every)
        model, config = new_model(epochs)
        model.set_weights(initial)
        epoch_weights = []
        original = training.EarlyStopping.check

        def check(self, epoch, accuracy, weights, original=original):
            epoch_weights.append([w.copy() for w in weights])
            return original(self, epoch, accuracy, weights)

        monkeypatch.setattr(training.EarlyStopping, "check", check)
        train_model(model, *data, config, tf.keras.optimizers.Adam(0.05), show_progress=False)
        monkeypatch.setattr(training.EarlyStopping, "check", original)
        after[check_every, epochs] = (epoch_weights, model.get_weights())
    first, second = after[1, 2][0]  # the weights after epoch 1 and after epoch 2
    for a, b in zip(first, after[1, 1][1]):
        np.testing.assert_allclose(a, b, atol=1e-6)
    for a, b, kept in zip(first, second, after[2, 2][1]):
        np.testing.assert_allclose(kept, (a + b) / 2, atol=1e-5)
    assert any(not np.allclose(a, b, atol=1e-4) for a, b in zip(first, second))


@pytest.mark.parametrize("dialogues, held_out", [(5, 0), (199, 0), (200, 20), (740, 74)])
def test_early_stopping_holds_back_a_tenth_from_200_dialogues_on(dialogues, held_out):
    assert training.held_out_count(dialogues) == held_out


def test_early_stopping_keeps_the_best_check_and_stops_after_the_patience():
    stopping = training.EarlyStopping(patience=3)
    decisions = [stopping.check(5 * (i + 1), accuracy, [np.full(2, float(i))])
                 for i, accuracy in enumerate([0.5, 0.6, 0.6, 0.55, 0.59])]
    assert decisions == [False, False, False, False, True]  # a tie is no new best
    assert stopping.best_epoch == 10 and stopping.best_accuracy == 0.6
    np.testing.assert_array_equal(stopping.best_weights[0], [1.0, 1.0])


def test_with_dialogues_to_spare_training_stops_early_with_the_best_held_out_weights(
        monkeypatch, caplog):
    for name, value in (("MIN_HELD_OUT", 1), ("HELD_OUT_FRACTION", 0.4), ("CHECK_EVERY", 1),
                        ("PATIENCE", 2)):
        monkeypatch.setattr(training, name, value)
    turns, restore, labels, label_features = training_data(seed=1)
    model, config = new_model(epochs=60)
    with caplog.at_level("INFO", logger="rasa_ntm_policy.training"):
        metrics = train_model(model, turns, restore, labels, label_features, config,
                              tf.keras.optimizers.Adam(0.05), show_progress=False)
    messages = [r.getMessage() for r in caplog.records]
    checks = [m for m in messages if "held-out action accuracy" in m]
    assert 2 < len(checks) < 60, "stopped after its patience ran out, before the last epoch"
    assert any("stopped after epoch" in r.getMessage() for r in caplog.records)
    accuracies = [float(m.rsplit(" ", 1)[1]) for m in checks]
    held = np.sort(np.random.default_rng(config["random_seed"]).permutation(len(turns))[:2])
    scores = model.scores(turns[held], restore[held], label_features).numpy()
    mask = labels[held] != PAD_LABEL
    accuracy = (scores.argmax(-1) == labels[held])[mask].mean()
    np.testing.assert_allclose(accuracy, max(accuracies), atol=1e-6)  # the best check's weights
    assert "held_out_acc" in metrics
