"""train_model: weight averaging over the last epochs."""
import numpy as np
import pytest
import tensorflow as tf

from rasa_ntm_policy.config import DEFAULTS
from rasa_ntm_policy.model import NTMDialogueModel
from rasa_ntm_policy.training import PAD_LABEL, averaged_epochs, train_model

TURN_SIZE, LABEL_SIZE, ACTIONS = 10, 6, 4


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


def new_model(epochs=1, weight_averaging=0.0):
    config = {**DEFAULTS, "memory_slots": 8, "controller_units": 16, "token_copy": False,
              "mentioned_tokens": False, "epochs": epochs, "batch_size": 2,
              "weight_averaging": weight_averaging}
    model = NTMDialogueModel(TURN_SIZE, LABEL_SIZE, config)
    model.build_all()
    return model, config


def trained_weights(initial, epochs, weight_averaging):
    """The weights after training a model that starts from the weights `initial`."""
    model, config = new_model(epochs, weight_averaging)
    model.set_weights(initial)
    train_model(model, *training_data(), config, tf.keras.optimizers.Adam(0.01),
                show_progress=False)
    return model.get_weights()


def test_weight_averaging_ends_with_the_mean_of_the_last_epochs_weights():
    initial = new_model()[0].get_weights()
    after_two = trained_weights(initial, 2, 0.0)
    after_three = trained_weights(initial, 3, 0.0)
    averaged = trained_weights(initial, 3, 0.5)  # the last 2 of 3 epochs
    for a, b, mean in zip(after_two, after_three, averaged):
        np.testing.assert_allclose(mean, (a + b) / 2, atol=1e-5)
    assert any(not np.allclose(a, b, atol=1e-4) for a, b in zip(after_two, after_three))
    assert any(not np.allclose(m, b, atol=1e-4) for m, b in zip(averaged, after_three))


def test_averaging_one_epoch_keeps_its_weights():
    initial = new_model()[0].get_weights()
    for kept, last in zip(trained_weights(initial, 1, 1.0), trained_weights(initial, 1, 0.0)):
        np.testing.assert_allclose(kept, last, atol=1e-6)
