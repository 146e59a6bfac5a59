"""NTMPolicy with forms: Rasa folds a form's happy path into one form action (applied_events),
and the policy trains on the states of that folded dialogue, the same as it sees at
prediction."""
import numpy as np
import pytest
from rasa.shared.core.domain import Domain

from rasa_ntm_policy import NTMPolicy
from tests.digression_bot import FAST
from tests.rasa_helpers import create_policy, load_trackers, new_storage, prediction_points

FORM_DOMAIN = """
version: "3.1"
intents: [request_hotel, inform, chitchat, explain, affirm]
entities: [location, price]
slots:
  location:
    type: text
    mappings: [{type: from_entity, entity: location}]
  price:
    type: text
    mappings: [{type: from_entity, entity: price}]
  requested_slot:
    type: categorical
    values: [location, price]
    influence_conversation: true
    mappings: [{type: custom}]
forms:
  hotel_form:
    required_slots: [location, price]
responses:
  utter_ask_location: [{text: "where?"}]
  utter_ask_price: [{text: "price?"}]
  utter_chitchat: [{text: bla}]
  utter_explain_location: [{text: "because: hotels are in cities"}]
  utter_explain_price: [{text: "because: budgets"}]
  utter_done: [{text: done}]
"""


def form_story(name, digression_at=None, kind="chitchat"):
    """request -> hotel_form asks location, then price; a digression at one question."""
    steps = ["- intent: request_hotel", "- action: hotel_form", "- active_loop: hotel_form",
             "- slot_was_set:\n    - requested_slot: location"]
    for slot, value, following in (("location", "rome", "price"), ("price", "cheap", None)):
        if digression_at == slot:
            reply = "utter_chitchat" if kind == "chitchat" else f"utter_explain_{slot}"
            steps += [f"- intent: {kind}", f"- action: {reply}", "- action: hotel_form",
                      f"- slot_was_set:\n    - requested_slot: {slot}"]
        steps += ["- intent: inform", f"  entities:\n    - {slot}: {value}",
                  f"- slot_was_set:\n    - {slot}: {value}", "- action: hotel_form",
                  f"- slot_was_set:\n    - requested_slot: {following or 'null'}"]
    steps += ["- active_loop: null", "- action: utter_done", "- intent: affirm",
              "- action: utter_chitchat"]
    body = "\n".join("  " + line.replace("\n", "\n  ") for line in steps)
    return f"\n- story: {name}\n  steps:\n{body}\n"


@pytest.fixture(scope="module")
def form_domain():
    return Domain.from_yaml(FORM_DOMAIN)


@pytest.fixture(scope="module")
def form_trackers(form_domain, tmp_path_factory):
    text = 'version: "3.1"\nstories:' + "".join(
        [form_story("happy"), form_story("chitchat at location", "location"),
         form_story("why the price", "price", "explain"),
         form_story("why the location", "location", "explain"),
         form_story("chitchat at price", "price")])
    return load_trackers(text, form_domain, tmp_path_factory.mktemp("forms"))


def test_the_training_states_and_labels_are_in_step(form_domain, form_trackers):
    policy = create_policy(NTMPolicy, FAST, new_storage())
    stories = policy._stories(form_trackers)
    states, labels = policy.featurizer.training_states_and_labels(stories, form_domain)
    for dialogue_states, dialogue_labels in zip(states, labels):
        assert len(dialogue_states) == len(dialogue_labels)
        # the form's happy path is one action: after the form comes the end of the booking
        form_turns = [i for i, s in enumerate(dialogue_states)
                      if (s.get("prev_action") or {}).get("action_name") == "hotel_form"]
        assert dialogue_labels[form_turns[-1]] == "utter_done"


@pytest.mark.slow  # trains a small NTMPolicy (about half a minute)
def test_ntm_policy_learns_the_digressions_inside_a_form(form_domain, form_trackers):
    policy = create_policy(NTMPolicy, FAST, new_storage())
    policy.train(form_trackers, form_domain)
    actions = form_domain.action_names_or_texts
    wrong = []
    for tracker in form_trackers:
        for prefix, expected in prediction_points(tracker, form_domain):
            probabilities = policy.predict_action_probabilities(prefix, form_domain).probabilities
            predicted = actions[int(np.argmax(probabilities))]
            if predicted != expected:
                wrong.append((tracker.sender_id, len(prefix.events), expected, predicted))
    assert not wrong
