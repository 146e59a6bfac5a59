"""Rasa's policy contract for REDPPolicy: train, persist, load, predict (as test_policy_contract
does for NTMPolicy), on the tiny domain and stories of tests/digression_bot.py."""
import json
import shutil

import numpy as np
import pytest
from rasa.engine.storage.resource import Resource
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import InvalidConfigException

import rasa_ntm_policy
from rasa_ntm_policy.redp import policy as policy_module
from rasa_ntm_policy.redp.policy import METADATA_FILE, REDPPolicy, REDPPolicyLoadError
from tests.rasa_helpers import (create_policy, load_policy, new_storage, prediction_points,
                                story_correct)

# 300 epochs learn the four tiny stories; the XLA compile of the training step costs more
FAST = {"epochs": 300, "rnn_size": 16, "random_seed": 3}


@pytest.fixture(scope="module")
def trained(domain, trackers, tmp_path_factory):
    storage = new_storage(tmp_path_factory.mktemp("redp_model"))
    policy = create_policy(REDPPolicy, FAST, storage)
    policy.train(trackers, domain)
    return policy, storage


@pytest.fixture(scope="module")
def loaded(trained):
    return load_policy(REDPPolicy, FAST, trained[1])


@pytest.fixture
def no_training(monkeypatch):
    """train() does everything (featurize, resolve options, build, persist) but the epochs."""
    monkeypatch.setattr(policy_module, "train_model", lambda *args, **kwargs: {})


def all_points(trackers, domain):
    return [p for t in trackers for p in prediction_points(t, domain)]


def probabilities(policy, tracker, domain):
    return np.array(policy.predict_action_probabilities(tracker, domain).probabilities)


def mean_story_length(trackers):
    """Turns per story: one per action taken, the first action_listen included."""
    return np.mean([sum(isinstance(e, ActionExecuted) for e in t.applied_events())
                    for t in trackers])


# --- training and prediction ----------------------------------------------------------------
def test_training_stories_are_learned(trained, domain, trackers):
    policy, _ = trained
    for tracker in trackers:
        assert story_correct(policy, tracker, domain), tracker.sender_id


def test_persist_and_load_give_identical_predictions(trained, loaded, domain, trackers):
    policy, _ = trained
    points = all_points(trackers, domain)
    assert len(points) > 20
    for prefix, _ in points:
        np.testing.assert_array_equal(probabilities(policy, prefix, domain),
                                      probabilities(loaded, prefix, domain))


def test_probabilities_one_per_action_in_zero_one(trained, domain, trackers):
    policy, _ = trained
    empty = DialogueStateTracker.from_events("empty", [], slots=domain.slots)
    for tracker in [empty] + [p for p, _ in all_points(trackers, domain)[:6]]:
        prediction = policy.predict_action_probabilities(tracker, domain)
        p = np.array(prediction.probabilities)
        assert p.shape == (domain.num_actions,)
        assert np.all((p >= 0) & (p <= 1)) and p.max() > 0
        assert prediction.policy_name == "REDPPolicy"
    # clipped cosine similarities (as rasa_core's EmbeddingPolicy), not a distribution


def test_inner_similarity_gives_a_distribution(domain, trackers, tmp_path, no_training):
    policy = create_policy(REDPPolicy, {**FAST, "similarity_type": "inner"}, new_storage(tmp_path))
    policy.train(trackers, domain)
    p = probabilities(policy, all_points(trackers, domain)[3][0], domain)
    assert p.shape == (domain.num_actions,) and abs(p.sum() - 1) < 1e-5 and np.all(p >= 0)


def test_diagnostic_data_has_attention_over_the_dialogue(trained, domain, trackers):
    policy, _ = trained
    for prefix, _ in all_points(trackers, domain)[2:20:5]:
        data = policy.predict_action_probabilities(prefix, domain).diagnostic_data
        turns = len(prefix.past_states(domain))
        for key in ("user_attention", "action_attention"):
            w = np.asarray(data[key])
            assert w.shape == (turns,), key
            assert np.all(w >= 0) and abs(w.sum() - 1) < 1e-5, key


def test_a_domain_with_other_actions_gets_one_probability_per_action(trained, domain):
    policy, _ = trained
    bigger = domain.merge(type(domain).from_yaml(
        'version: "3.1"\nresponses:\n  utter_ask_location_spa: [{text: "spa"}]\n'))
    tracker = DialogueStateTracker.from_events("x", [], slots=bigger.slots)
    p = probabilities(policy, tracker, bigger)
    assert p.shape == (bigger.num_actions,) and bigger.num_actions == domain.num_actions + 1
    assert np.all((p >= 0) & (p <= 1))


def test_unseen_intent_entity_and_action_do_not_crash(trained, domain):
    policy, _ = trained
    events = [ActionExecuted("action_listen"),
              UserUttered("?", intent={"name": "never_seen_intent", "confidence": 1.0},
                          entities=[{"entity": "unknown_entity", "value": "x"}]),
              ActionExecuted("utter_unknown_action"), ActionExecuted("action_listen"),
              UserUttered("?", intent={"name": "request_hotel", "confidence": 1.0})]
    tracker = DialogueStateTracker.from_events("unseen", events, slots=domain.slots)
    p = probabilities(policy, tracker, domain)
    assert p.shape == (domain.num_actions,) and np.all(np.isfinite(p))
    assert np.all((p >= 0) & (p <= 1))


def test_a_dialogue_longer_than_the_training_stories_is_predicted(trained, domain):
    policy, _ = trained
    events = [ActionExecuted("action_listen")]
    for _ in range(20):  # 41 turns: the 64-turn bucket
        events += [UserUttered("?", intent={"name": "chitchat", "confidence": 1.0}),
                   ActionExecuted("utter_chitchat"), ActionExecuted("action_listen")]
    tracker = DialogueStateTracker.from_events("long", events, slots=domain.slots)
    prediction = policy.predict_action_probabilities(tracker, domain)
    assert len(prediction.probabilities) == domain.num_actions
    assert len(prediction.diagnostic_data["action_attention"]) == len(tracker.past_states(domain))


@pytest.mark.slow
def test_same_seed_same_model_and_predictions(trained, domain, trackers, tmp_path):
    first, _ = trained
    second = create_policy(REDPPolicy, FAST, new_storage(tmp_path))
    second.train(trackers, domain)
    for x, y in zip(first.model.weights, second.model.weights):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    prefix, _ = all_points(trackers, domain)[3]
    np.testing.assert_array_equal(probabilities(first, prefix, domain),
                                  probabilities(second, prefix, domain))


# --- options --------------------------------------------------------------------------------
def test_attn_shift_range_none_is_half_the_mean_story_length_and_persisted(trained, loaded,
                                                                            trackers):
    policy, storage = trained
    mean = mean_story_length(trackers)
    assert policy.data_facts["mean_dialogue_length"] == pytest.approx(mean)
    assert policy.data_facts["attn_shift_range"] == int(mean / 2) > 0
    assert policy.model.attend_action.shift.units == 2 * int(mean / 2) + 1
    with storage.read_from(Resource("policy")) as path:
        metadata = json.loads((path / METADATA_FILE).read_text())
    assert metadata["data_facts"]["attn_shift_range"] == int(mean / 2)
    assert metadata["config"]["attn_shift_range"] is None
    assert loaded.model.attend_action.shift.units == 2 * int(mean / 2) + 1
    # the chrono initialisation's characteristic time is the same mean length
    assert policy.model.lstm.forget_bias.numpy().max() <= np.log(mean - 1) + 1e-6


@pytest.mark.parametrize("shift", [0, 2])
def test_an_explicit_attn_shift_range_is_kept(domain, trackers, tmp_path, shift, no_training):
    storage = new_storage(tmp_path)
    policy = create_policy(REDPPolicy, {**FAST, "attn_shift_range": shift}, storage)
    policy.train(trackers, domain)
    assert policy.data_facts["attn_shift_range"] == shift
    # a loaded model keeps the architecture it was trained with, whatever the config says now
    loaded = load_policy(REDPPolicy, {**FAST, "attn_shift_range": 5, "rnn_size": 4}, storage)
    for p in (policy, loaded):
        layer = p.model.attend_action.shift
        assert (layer is None) if shift == 0 else (layer.units == 2 * shift + 1)
        assert p.model.units == FAST["rnn_size"]


@pytest.mark.parametrize("config, option", [
    ({"unknown_option": 1}, "unknown_option"), ({"rnn_size": 0}, "rnn_size"),
    ({"batch_size": [8]}, "batch_size"), ({"similarity_type": "foo"}, "similarity_type"),
    ({"sparse_attention": True}, "sparse_attention"),
    ({"attn_shift_range": -1}, "attn_shift_range"),
    ({"droprate_rnn": 1.0}, "droprate_rnn"), ({"epochs": 0}, "epochs"),
    ({"batch_size": [8, 0]}, "batch_size"), ({"mu_pos": 1.5}, "mu_pos"),
    ({"layer_norm": "yes"}, "layer_norm"),
    ({"hidden_layers_sizes_a": [0]}, "hidden_layers_sizes_a"),
    ({"learning_rate": 0}, "learning_rate"), ({"random_seed": "x"}, "random_seed")])
def test_bad_options_are_rejected_naming_the_option(config, option, tmp_path):
    with pytest.raises(InvalidConfigException, match=option):
        create_policy(REDPPolicy, config, new_storage(tmp_path))


def test_default_config_is_valid_and_rasa_keys_are_accepted(tmp_path):
    config = {**REDPPolicy.get_default_config(), "name": "rasa_ntm_policy.REDPPolicy",
              "finetuning_epoch_fraction": 0.5}
    policy = create_policy(REDPPolicy, config, new_storage(tmp_path))
    assert policy.config["epochs"] == 2000 and policy.config["batch_size"] == [8, 32]


# --- persistence ----------------------------------------------------------------------------
def test_untrained_policy_loads_and_predicts_nothing(domain, tmp_path):
    storage = new_storage(tmp_path)
    policy = create_policy(REDPPolicy, FAST, storage)
    with pytest.warns(UserWarning, match="no stories"):
        policy.train([], domain)  # persists an untrained policy
    loaded = load_policy(REDPPolicy, FAST, storage)
    tracker = DialogueStateTracker.from_events("x", [], slots=domain.slots)
    p = loaded.predict_action_probabilities(tracker, domain).probabilities
    assert p == [0.0] * domain.num_actions
    # and a resource that was never written loads as an untrained policy too
    fresh = load_policy(REDPPolicy, FAST, new_storage(tmp_path / "other"), "missing")
    assert fresh.predict_action_probabilities(tracker, domain).probabilities == p


def copy_of(storage, tmp_path):
    """A second model storage holding the same persisted policy."""
    target = tmp_path / "copy"
    with storage.read_from(Resource("policy")) as path:
        shutil.copytree(path, target / "policy")
    return new_storage(target)


def test_a_broken_weights_file_gives_a_clear_error(trained, tmp_path):
    storage = copy_of(trained[1], tmp_path)
    with storage.write_to(Resource("policy")) as path:
        data = [f for f in path.iterdir() if f.name.startswith("weights") and f.suffix != ".index"]
        assert data
        for f in data:
            f.write_bytes(b"garbage")
    with pytest.raises(REDPPolicyLoadError, match="broken or incompatible"):
        load_policy(REDPPolicy, FAST, storage)


def test_missing_weights_give_a_clear_error(trained, tmp_path):
    storage = copy_of(trained[1], tmp_path)
    with storage.write_to(Resource("policy")) as path:
        for f in path.iterdir():
            if f.name.startswith("weights"):
                f.unlink()
    with pytest.raises(REDPPolicyLoadError, match="Retrain"):
        load_policy(REDPPolicy, FAST, storage)


@pytest.mark.parametrize("metadata", ["{not json", '{"format_version": 99}',
                                      '{"format_version": 1, "trained": true}', "[]",
                                      '{"format_version": 1, "config": {}, "trained": true, '
                                      '"featurizer": []}'])
def test_a_broken_metadata_file_gives_a_clear_error(trained, tmp_path, metadata):
    storage = copy_of(trained[1], tmp_path)
    with storage.write_to(Resource("policy")) as path:
        (path / METADATA_FILE).write_text(metadata)
    with pytest.raises(REDPPolicyLoadError, match="Retrain"):
        load_policy(REDPPolicy, FAST, storage)


def test_nothing_is_pickled(trained):
    _, storage = trained
    with storage.read_from(Resource("policy")) as path:
        names = sorted(p.name for p in path.iterdir())
        metadata = json.loads((path / METADATA_FILE).read_text())
    assert not [n for n in names if n.endswith((".pkl", ".pickle", ".joblib"))]
    assert METADATA_FILE in names and any(n.startswith("weights") for n in names)
    assert metadata["trained"] is True and metadata["config"]["rnn_size"] == FAST["rnn_size"]


@pytest.mark.slow
def test_finetuning_continues_from_the_loaded_weights(trained, domain, trackers):
    _, storage = trained
    tuned = load_policy(REDPPolicy, {**FAST, "epochs": 3}, storage, finetuning=True)
    assert tuned.finetune_mode
    before = [v.numpy().copy() for v in tuned.model.trainable_variables]
    featurizer = tuned.dialogue_featurizer
    points = all_points(trackers, domain)
    p_before = [probabilities(tuned, p, domain) for p, _ in points[::4]]
    tuned.train(trackers, domain)
    after = [v.numpy() for v in tuned.model.trainable_variables]
    # continued from the loaded weights (a small change), not from a fresh initialisation
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))
    assert max(float(np.abs(a - b).max()) for a, b in zip(before, after)) < 0.05
    assert tuned.dialogue_featurizer is featurizer  # the vocabulary is kept
    p_after = [probabilities(tuned, p, domain) for p, _ in points[::4]]
    assert [int(np.argmax(p)) for p in p_after] == [int(np.argmax(p)) for p in p_before]


# --- Rasa integration -----------------------------------------------------------------------
def test_redp_policy_resolves_from_the_package_lazily():
    from rasa.shared.utils.common import class_from_module_path

    assert rasa_ntm_policy.REDPPolicy is REDPPolicy
    assert class_from_module_path("rasa_ntm_policy.REDPPolicy") is REDPPolicy
    with pytest.raises(AttributeError, match="NoSuchPolicy"):
        rasa_ntm_policy.NoSuchPolicy


def test_fingerprint_covers_the_package_source():
    from rasa_ntm_policy.policy import package_fingerprint

    assert REDPPolicy.fingerprint_addon({}) == package_fingerprint()
