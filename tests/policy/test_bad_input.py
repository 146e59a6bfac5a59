"""NTMPolicy on bad input: odd trackers and slot values, damaged or tampered model archives."""
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from rasa.engine.storage.resource import Resource
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from rasa_ntm_policy import NTMPolicy
from rasa_ntm_policy.policy import METADATA_FILE, NTMPolicyLoadError
from tests.rasa_helpers import create_policy, load_policy, load_trackers, new_storage

# a slot of every Rasa slot type, featurized wherever Rasa allows it (an `any` slot never is)
SLOT_DOMAIN_YAML = """
version: "3.1"
intents: [greet, inform, bye]
entities: [city]
slots:
  name: {type: text, influence_conversation: true, mappings: [{type: custom}]}
  flag: {type: bool, influence_conversation: true, mappings: [{type: custom}]}
  size:
    type: categorical
    values: [small, large]
    influence_conversation: true
    mappings: [{type: custom}]
  amount:
    type: float
    min_value: 0
    max_value: 10
    influence_conversation: true
    mappings: [{type: custom}]
  items: {type: list, influence_conversation: true, mappings: [{type: custom}]}
  blob: {type: any, influence_conversation: false, mappings: [{type: custom}]}
responses:
  utter_greet: [{text: hi}]
  utter_ask_size: [{text: "size?"}]
  utter_done_small: [{text: small}]
  utter_done_large: [{text: large}]
  utter_bye: [{text: bye}]
"""

SLOT_STORIES_YAML = """
version: "3.1"
stories:
- story: small
  steps:
  - intent: greet
  - action: utter_greet
  - intent: inform
    entities: [{city: rome}]
  - slot_was_set: [{size: small}, {flag: true}, {amount: 3.0}, {name: bob}, {items: [a]}]
  - action: utter_done_small
  - intent: bye
  - action: utter_bye
- story: large
  steps:
  - intent: greet
  - action: utter_greet
  - intent: inform
  - slot_was_set: [{size: large}, {flag: false}, {amount: 8.0}, {blob: {any: thing}}]
  - action: utter_done_large
- story: ask
  steps:
  - intent: inform
  - action: utter_ask_size
  - intent: inform
  - slot_was_set: [{size: small}]
  - action: utter_done_small
"""

# small enough to train in seconds; the tests need a trained model, not a good one
TINY = {"epochs": 20, "memory_slots": 8, "memory_width": 8, "controller_units": 16,
        "embedding_dimension": 8, "random_seed": 3}


@pytest.fixture(scope="module")
def slot_domain():
    return Domain.from_yaml(SLOT_DOMAIN_YAML)


@pytest.fixture(scope="module")
def slot_policy(slot_domain, tmp_path_factory):
    """A policy trained on the slot domain, and the directory of the storage it persisted to."""
    directory = tmp_path_factory.mktemp("slot_model")
    trackers = load_trackers(SLOT_STORIES_YAML, slot_domain, tmp_path_factory.mktemp("stories"))
    policy = create_policy(NTMPolicy, TINY, new_storage(directory))
    policy.train(trackers, slot_domain)
    return policy, directory


def tracker_of(events, domain):
    return DialogueStateTracker.from_events("bad-input", events, slots=domain.slots)


def user(intent):
    return UserUttered("...", intent={"name": intent, "confidence": 1.0})


def probabilities(policy, events, domain):
    return np.array(policy.predict_action_probabilities(tracker_of(events, domain),
                                                        domain).probabilities)


def assert_distribution(p, domain):
    assert p.shape == (domain.num_actions,)
    assert np.all(np.isfinite(p)), p
    assert np.all((p >= 0) & (p <= 1)) and abs(p.sum() - 1) < 1e-5, p


# --- trackers ----------------------------------------------------------------------------------
def test_a_tracker_of_only_action_listen_gets_a_distribution(slot_policy, slot_domain):
    policy, _ = slot_policy
    assert_distribution(probabilities(policy, [ActionExecuted("action_listen")], slot_domain),
                        slot_domain)


def test_a_tracker_of_ten_thousand_turns_gets_a_distribution(slot_policy, slot_domain):
    policy, _ = slot_policy
    events = [ActionExecuted("action_listen")]
    for _ in range(10_000):
        events += [user("greet"), ActionExecuted("utter_greet"), ActionExecuted("action_listen")]
    events.append(user("inform"))
    prediction = policy.predict_action_probabilities(tracker_of(events, slot_domain),
                                                     slot_domain)
    assert_distribution(np.array(prediction.probabilities), slot_domain)
    # after 20,001 turns the heads still address the memory: each weighting a distribution
    for key in ("read_weights", "write_weights"):
        weights = np.asarray(prediction.diagnostic_data[key])
        assert np.all(np.isfinite(weights))
        np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-4)


NAN, INF = float("nan"), float("inf")
ODD_SLOT_VALUES = [
    pytest.param({"amount": 1e30}, id="float-1e30"),
    pytest.param({"amount": -1e30}, id="float-minus-1e30"),
    pytest.param({"amount": NAN}, id="float-nan"),
    pytest.param({"amount": INF}, id="float-inf"),
    pytest.param({"amount": -INF}, id="float-minus-inf"),
    pytest.param({"amount": "lots"}, id="float-a-string"),
    pytest.param({"size": "enormous"}, id="categorical-unknown-value"),
    pytest.param({"size": 42}, id="categorical-a-number"),
    pytest.param({"flag": "maybe"}, id="bool-a-string"),
    pytest.param({"flag": {"x": 1}}, id="bool-a-dict"),
    pytest.param({"items": []}, id="list-empty"),
    pytest.param({"items": list(range(100_000))}, id="list-very-long"),
    pytest.param({"items": "not a list"}, id="list-a-string"),
    pytest.param({"name": ""}, id="text-empty"),
    pytest.param({"name": "x" * 1_000_000}, id="text-very-long"),
    pytest.param({"blob": {"nested": {"a": [1, 2, {"b": None}]}}}, id="any-a-dict"),
    pytest.param({"amount": NAN, "size": "enormous", "flag": "maybe", "items": [],
                  "name": "", "blob": {"a": 1}}, id="all-at-once"),
]


@pytest.mark.parametrize("values", ODD_SLOT_VALUES)
def test_unexpected_slot_values_give_a_distribution(slot_policy, slot_domain, values):
    policy, _ = slot_policy
    slot_events = [SlotSet(name, value) for name, value in values.items()]
    events = [ActionExecuted("action_listen"), user("greet"), ActionExecuted("utter_greet"),
              ActionExecuted("action_listen"), user("inform"), *slot_events]
    assert_distribution(probabilities(policy, events, slot_domain), slot_domain)
    # and the slots keep counting in the turns after they were set
    events += [ActionExecuted("utter_done_small"), ActionExecuted("action_listen"), user("bye")]
    assert_distribution(probabilities(policy, events, slot_domain), slot_domain)


@pytest.mark.parametrize("value, bound", [(1e30, 10.0), (INF, 10.0), (-1e30, 0.0),
                                          (-INF, 0.0)])
def test_an_out_of_range_float_slot_acts_as_its_nearest_bound(slot_policy, slot_domain,
                                                              value, bound):
    policy, _ = slot_policy

    def with_amount(amount):
        events = [ActionExecuted("action_listen"), user("inform"), SlotSet("amount", amount)]
        return probabilities(policy, events, slot_domain)

    np.testing.assert_array_equal(with_amount(value), with_amount(bound))


# --- damaged model archives --------------------------------------------------------------------
def copy_of(directory: Path, tmp_path: Path):
    """A copy of a persisted model's storage, and its resource directory, to damage."""
    target = tmp_path / "copy"
    shutil.copytree(directory, target)
    storage = new_storage(target)
    with storage.write_to(Resource("policy")) as path:
        return storage, Path(path)


def weight_files(path: Path, kind: str):
    """The checkpoint's files: "index", "data" or "all"."""
    files = sorted(p for p in path.iterdir() if p.name.startswith("weights"))
    assert files, "the checkpoint's files should start with 'weights'"
    if kind == "index":
        return [p for p in files if p.suffix == ".index"]
    if kind == "data":
        return [p for p in files if p.suffix != ".index"]
    return files


def remove(kind):
    def damage(path):
        for f in weight_files(path, kind):
            f.unlink()
    return damage


def truncate(kind, keep):
    def damage(path):
        for f in weight_files(path, kind):
            data = f.read_bytes()
            f.write_bytes(data[:keep(len(data))])
    return damage


def edit_metadata(edit):
    def damage(path):
        metadata = json.loads((path / METADATA_FILE).read_text())
        edit(metadata)
        (path / METADATA_FILE).write_text(json.dumps(metadata))
    return damage


def set_option(name, value):
    return edit_metadata(lambda m: m["config"].__setitem__(name, value))


def vocabulary(part, edit):
    return edit_metadata(lambda m: edit(m["featurizer"][part]))


DAMAGES = [
    pytest.param(remove("all"), id="checkpoint-missing"),
    pytest.param(remove("index"), id="checkpoint-index-missing"),
    pytest.param(remove("data"), id="checkpoint-data-missing"),
    pytest.param(truncate("data", lambda n: n // 2), id="data-truncated-to-half"),
    pytest.param(truncate("data", lambda n: 0), id="data-truncated-to-nothing"),
    pytest.param(truncate("data", lambda n: n - 1), id="data-last-byte-cut"),
    pytest.param(truncate("index", lambda n: n // 2), id="index-truncated-to-half"),
    # the model described by the metadata is not the one the weights were trained as
    pytest.param(set_option("memory_width", TINY["memory_width"] * 2), id="memory-width"),
    pytest.param(set_option("controller_units", TINY["controller_units"] * 2),
                 id="controller-units"),
    pytest.param(set_option("read_heads", 1), id="read-heads"),
    pytest.param(set_option("embedding_dimension", 4), id="embedding-dimension"),
    pytest.param(set_option("memory_slots", 2), id="memory-slots-too-few-for-a-shift"),
    # no weight's shape depends on these: the digest in the checkpoint tells the edit
    pytest.param(set_option("memory_slots", TINY["memory_slots"] * 2), id="memory-slots"),
    pytest.param(set_option("restore_digressions", False), id="restore-digressions"),
    pytest.param(edit_metadata(lambda m: m["featurizer"].__setitem__("context_action", False)),
                 id="featurizer-flag"),
    # the vocabulary the features are built from is not the one the weights were trained on
    pytest.param(vocabulary("intents", lambda v: v.append("ask_weather")), id="intent-added"),
    pytest.param(vocabulary("intents", lambda v: v.remove("bye")), id="intent-removed"),
    pytest.param(vocabulary("actions", lambda v: v.append("utter_weather")), id="action-added"),
    pytest.param(vocabulary("entities", lambda v: v.append("weekday")), id="entity-added"),
    pytest.param(vocabulary("slots", lambda v: v.pop("items")), id="slot-removed"),
    pytest.param(vocabulary("slots", lambda v: v.__setitem__("size", 5)), id="slot-resized"),
]


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_archive_asks_to_be_retrained(slot_policy, tmp_path, damage):
    _, directory = slot_policy
    storage, path = copy_of(directory, tmp_path)
    damage(path)
    with pytest.raises(NTMPolicyLoadError) as raised:
        load_policy(NTMPolicy, TINY, storage)
    message = str(raised.value)
    assert "broken or incompatible" in message and "Retrain" in message, message
    assert str(path) in message, message


@pytest.mark.parametrize("edit", [pytest.param(None, id="as-saved"),
                                  pytest.param(set_option("epochs", 5), id="a-training-option")])
def test_the_undamaged_copy_loads(slot_policy, slot_domain, tmp_path, edit):
    """The damage tests' copies fail because of the damage, not of the copying; a training
    option may change (finetuning does)."""
    policy, directory = slot_policy
    storage, path = copy_of(directory, tmp_path)
    if edit:
        edit(path)
    loaded = load_policy(NTMPolicy, TINY, storage)
    events = [ActionExecuted("action_listen"), user("greet")]
    np.testing.assert_array_equal(probabilities(loaded, events, slot_domain),
                                  probabilities(policy, events, slot_domain))


class _Touch:
    """Unpickling it creates the file at path."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return Path.touch, (Path(self.path),)


def planted_files(marker: Path):
    """Files whose unpickling, importing or running would create marker."""
    script = f"from pathlib import Path\nPath({str(marker)!r}).touch()\n".encode()
    return {"evil.pkl": pickle.dumps(_Touch(marker)), "policy.pkl": pickle.dumps(_Touch(marker)),
            "evil.py": script, "__init__.py": script}


def test_planted_pickles_and_scripts_are_never_run(slot_policy, slot_domain, tmp_path):
    policy, directory = slot_policy
    # the planted files are armed: loading or running them does create the marker
    armed = tmp_path / "armed"
    for name, content in planted_files(armed).items():
        if name.endswith(".pkl"):
            pickle.loads(content)
        else:
            exec(compile(content, name, "exec"), {})
        assert armed.exists(), name
        armed.unlink()
    marker = tmp_path / "marker"
    storage, path = copy_of(directory, tmp_path)
    for name, content in planted_files(marker).items():
        (path / name).write_bytes(content)
    loaded = load_policy(NTMPolicy, TINY, storage)
    events = [ActionExecuted("action_listen"), user("inform"), SlotSet("size", "large")]
    np.testing.assert_array_equal(probabilities(loaded, events, slot_domain),
                                  probabilities(policy, events, slot_domain))
    assert not marker.exists()
