"""Rasa's policy contract for NTMPolicy: train, persist, load, predict."""
import functools
import json
from pathlib import Path

import numpy as np
import pytest
import rasa.model_training
from rasa.core.policies.memoization import MemoizationPolicy
from rasa.core.policies.rule_policy import RulePolicy
from rasa.engine.storage.resource import Resource
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import InvalidConfigException

from rasa_ntm_policy import NTMPolicy
from rasa_ntm_policy.config import DEFAULTS, options_table
from rasa_ntm_policy.model import WRITE_HEADS
from rasa_ntm_policy.policy import METADATA_FILE, NTMPolicyLoadError, package_fingerprint
from tests.digression_bot import DOMAIN_YAML, FAST, stories, task_story
from tests.rasa_helpers import create_policy, load_policy, new_storage, prediction_points


@pytest.fixture(scope="module")
def trained(domain, trackers, tmp_path_factory):
    storage = new_storage(tmp_path_factory.mktemp("model"))
    policy = create_policy(NTMPolicy, FAST, storage)
    policy.train(trackers, domain)
    return policy, storage


def all_points(trackers, domain):
    return [p for t in trackers for p in prediction_points(t, domain)]


@pytest.mark.slow
def test_persist_and_load_give_identical_predictions(trained, domain, trackers):
    policy, storage = trained
    loaded = load_policy(NTMPolicy, FAST, storage)
    points = all_points(trackers, domain)
    assert len(points) > 20
    for prefix, _ in points:
        a = policy.predict_action_probabilities(prefix, domain).probabilities
        b = loaded.predict_action_probabilities(prefix, domain).probabilities
        np.testing.assert_array_equal(a, b)


def test_empty_tracker_gives_a_distribution_over_the_domain(trained, domain):
    policy, _ = trained
    prediction = policy.predict_action_probabilities(
        DialogueStateTracker.from_events("empty", [], slots=domain.slots), domain)
    p = np.array(prediction.probabilities)
    assert p.shape == (domain.num_actions,)
    assert np.all((p >= 0) & (p <= 1)) and abs(p.sum() - 1) < 1e-5
    assert prediction.policy_name == "NTMPolicy"


def test_training_stories_are_learned(trained, domain, trackers):
    policy, _ = trained
    names = domain.action_names_or_texts
    for prefix, expected in all_points(trackers, domain):
        p = policy.predict_action_probabilities(prefix, domain).probabilities
        assert names[int(np.argmax(p))] == expected


def test_diagnostic_data_carries_the_last_read_and_write_weightings(trained, domain, trackers):
    policy, _ = trained
    prefix, _ = all_points(trackers, domain)[5]
    data = policy.predict_action_probabilities(prefix, domain).diagnostic_data
    config = policy.config
    for key, heads in (("read_weights", config["read_heads"]), ("write_weights", WRITE_HEADS)):
        w = np.asarray(data[key])
        assert w.shape == (heads, FAST["memory_slots"])
        np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-5)


def test_untrained_policy_loads_and_predicts_nothing(domain, tmp_path):
    storage = new_storage(tmp_path)
    policy = create_policy(NTMPolicy, FAST, storage)
    policy.train([], domain)  # no stories: warns, persists an untrained policy
    loaded = load_policy(NTMPolicy, FAST, storage)
    tracker = DialogueStateTracker.from_events("x", [], slots=domain.slots)
    p = loaded.predict_action_probabilities(tracker, domain).probabilities
    assert p == [0.0] * domain.num_actions
    # and a resource that was never written loads as an untrained policy too
    fresh = load_policy(NTMPolicy, FAST, new_storage(tmp_path / "other"), "missing")
    assert fresh.predict_action_probabilities(tracker, domain).probabilities == p


def test_finetune_flag_survives_loading_and_finetuning_continues(trained, domain, trackers,
                                                                  tmp_path):
    _, storage = trained
    loaded = load_policy(NTMPolicy, {**FAST, "epochs": 2}, storage, finetuning=True)
    assert loaded.finetune_mode
    before = [v.numpy().copy() for v in loaded.model.trainable_variables]
    tracker = all_points(trackers, domain)[7][0]
    p_before = loaded.predict_action_probabilities(tracker, domain).probabilities
    loaded.train(trackers, domain)
    after = [v.numpy() for v in loaded.model.trainable_variables]
    # continued from the loaded weights (small change), not from a fresh initialisation
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))
    drift = max(float(np.abs(a - b).max()) for a, b in zip(before, after))
    assert drift < 0.2
    p_after = loaded.predict_action_probabilities(tracker, domain).probabilities
    assert int(np.argmax(p_after)) == int(np.argmax(p_before))


@pytest.mark.slow
def test_same_seed_same_model_and_predictions(domain, trackers, tmp_path):
    def train_once(directory):
        policy = create_policy(NTMPolicy, {**FAST, "epochs": 5}, new_storage(directory))
        policy.train(trackers, domain)
        return policy

    a, b = train_once(tmp_path / "a"), train_once(tmp_path / "b")
    for x, y in zip(a.model.weights, b.model.weights):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    prefix, _ = all_points(trackers, domain)[3]
    assert (a.predict_action_probabilities(prefix, domain).probabilities
            == b.predict_action_probabilities(prefix, domain).probabilities)


@pytest.mark.parametrize("config, option", [
    ({"memory_slots": -4}, "memory_slots"), ({"memory_slots": 0}, "memory_slots"),
    ({"epochs": 0}, "epochs"), ({"read_heads": True}, "read_heads"),
    ({"learning_rate": "fast"}, "learning_rate"), ({"learning_rate": 0}, "learning_rate"),
    ({"dropout": 1.5}, "dropout"), ({"dropout": -0.1}, "dropout"),
    ({"memry_slots": 8}, "memry_slots"), ({"batch_size": 2.5}, "batch_size"),
    ({"random_seed": "x"}, "random_seed"), ({"restore_digressions": "yes"}, "restore_digressions"),
    ({"controller_units": None}, "controller_units"), ({"priority": 1.5}, "priority"),
    # options of earlier versions, now part of the design: unknown
    ({"token_idf": True}, "token_idf"), ({"controller": "dense"}, "controller")])
def test_bad_options_are_rejected_naming_the_option(config, option, tmp_path):
    with pytest.raises(InvalidConfigException, match=option):
        create_policy(NTMPolicy, config, new_storage(tmp_path))


def test_unseen_intent_entity_slot_and_action_do_not_crash(trained, domain):
    policy, _ = trained
    events = [ActionExecuted("action_listen"),
              UserUttered("?", intent={"name": "never_seen_intent", "confidence": 1.0},
                          entities=[{"entity": "unknown_entity", "value": "x"}]),
              ActionExecuted("utter_unknown_action"), ActionExecuted("action_listen"),
              UserUttered("?", intent={"name": "request_hotel", "confidence": 1.0})]
    tracker = DialogueStateTracker.from_events("unseen", events, slots=domain.slots)
    p = np.array(policy.predict_action_probabilities(tracker, domain).probabilities)
    assert p.shape == (domain.num_actions,) and abs(p.sum() - 1) < 1e-5


def test_a_domain_with_other_actions_gets_one_probability_per_action(trained, domain):
    policy, _ = trained
    bigger = domain.merge(type(domain).from_yaml(
        'version: "3.1"\nresponses:\n  utter_ask_location_spa: [{text: \"spa\"}]\n'))
    tracker = DialogueStateTracker.from_events("x", [], slots=bigger.slots)
    p = policy.predict_action_probabilities(tracker, bigger).probabilities
    assert len(p) == bigger.num_actions == domain.num_actions + 1
    assert abs(sum(p) - 1) < 1e-5


def test_a_broken_model_file_gives_a_clear_error(trained, tmp_path, domain, trackers):
    policy = create_policy(NTMPolicy, FAST, new_storage(tmp_path))
    policy.train(trackers[:1], domain)
    with policy._model_storage.write_to(policy._resource) as path:
        for f in path.iterdir():
            if f.name.startswith("weights") and f.suffix != ".index":
                f.write_bytes(b"garbage")
    with pytest.raises(NTMPolicyLoadError, match="broken or incompatible"):
        load_policy(NTMPolicy, FAST, policy._model_storage)


def test_a_broken_metadata_file_gives_a_clear_error(tmp_path, domain, trackers):
    policy = create_policy(NTMPolicy, FAST, new_storage(tmp_path))
    policy.train(trackers[:1], domain)
    with policy._model_storage.write_to(policy._resource) as path:
        (path / METADATA_FILE).write_text("{not json")
    with pytest.raises(NTMPolicyLoadError, match="Retrain"):
        load_policy(NTMPolicy, FAST, policy._model_storage)


def test_a_model_of_an_earlier_format_asks_to_be_retrained(tmp_path, domain, trackers):
    policy = create_policy(NTMPolicy, {**FAST, "epochs": 1}, new_storage(tmp_path))
    policy.train(trackers[:1], domain)
    with policy._model_storage.write_to(policy._resource) as path:
        metadata = json.loads((path / METADATA_FILE).read_text())
        metadata["format_version"] = 1
        metadata["config"]["token_idf"] = True  # an option of that version
        (path / METADATA_FILE).write_text(json.dumps(metadata))
    with pytest.raises(NTMPolicyLoadError, match="format 1.*Retrain"):
        load_policy(NTMPolicy, {}, policy._model_storage)


def test_at_most_twelve_options_and_the_readme_table_is_the_codes():
    assert len(DEFAULTS) <= 12
    assert set(DEFAULTS) == set(NTMPolicy.get_default_config())
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert options_table() in readme, "README.md's options table differs from config.py's"


def test_nothing_is_pickled(trained):
    _, storage = trained
    from rasa.engine.storage.resource import Resource
    with storage.read_from(Resource("policy")) as path:
        names = sorted(p.name for p in path.iterdir())
        json.loads((path / METADATA_FILE).read_text())
    assert not [n for n in names if n.endswith((".pkl", ".pickle"))]
    assert METADATA_FILE in names and any(n.startswith("weights") for n in names)


def test_fingerprint_covers_the_package_source(tmp_path, monkeypatch):
    import rasa_ntm_policy.dialogue_policy as policy_module
    (tmp_path / "a.py").write_text("x = 1")
    monkeypatch.setattr(policy_module, "PACKAGE_DIR", tmp_path)
    first = policy_module.package_fingerprint()
    (tmp_path / "a.py").write_text("x = 2")
    assert policy_module.package_fingerprint() != first
    assert NTMPolicy.fingerprint_addon({}) == package_fingerprint()


def test_a_bad_option_stops_rasa_train_before_any_component_trains(tmp_path, monkeypatch):
    """Rasa fingerprints every component before it trains any; NTMPolicy checks its options
    there, so MemoizationPolicy and RulePolicy (which Rasa would otherwise train first) never
    start."""
    trained = []
    for policy_class in (MemoizationPolicy, RulePolicy):
        def spy(self, *args, _train=policy_class.train, **kwargs) -> Resource:
            trained.append(type(self).__name__)
            return _train(self, *args, **kwargs)
        monkeypatch.setattr(policy_class, "train", functools.wraps(policy_class.train)(spy))
    monkeypatch.setenv("RASA_CACHE_DIRECTORY", str(tmp_path / "cache"))
    (tmp_path / "domain.yml").write_text(DOMAIN_YAML)
    (tmp_path / "stories.yml").write_text(stories(task_story("hotel", 1)))
    (tmp_path / "config.yml").write_text(
        "recipe: default.v1\nlanguage: en\npipeline: []\npolicies:\n- name: MemoizationPolicy\n"
        "- name: RulePolicy\n- name: rasa_ntm_policy.NTMPolicy\n  memory_slots: 0\n")
    with pytest.raises(InvalidConfigException, match="memory_slots"):
        rasa.model_training.train_core(str(tmp_path / "domain.yml"),
                                       str(tmp_path / "config.yml"),
                                       str(tmp_path / "stories.yml"), str(tmp_path / "out"))
    assert trained == []
    assert not list(tmp_path.glob("out/*.tar.gz"))
