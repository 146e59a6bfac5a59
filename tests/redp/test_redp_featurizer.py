"""REDP's inputs (redp/featurizer.py) and DialogueFeaturizer.block."""
import numpy as np
import pytest
from rasa.shared.core.domain import Domain

from rasa_ntm_policy.featurizer import DialogueFeaturizer
from rasa_ntm_policy.redp.featurizer import encode, user_turns

DOMAIN = Domain.from_yaml("""
version: "3.1"
intents: [request_hotel, inform, chitchat]
entities: [price, location]
slots:
  price:
    type: categorical
    values: [cheap, expensive]
    mappings: [{type: from_entity, entity: price}]
responses:
  utter_ask_price: [{text: "price?"}]
  utter_chitchat: [{text: "bla"}]
""")


def state(previous, intent=None, entities=(), slots=None):
    s = {"prev_action": {"action_name": previous}}
    if intent:
        s["user"] = {"intent": intent, **({"entities": tuple(entities)} if entities else {})}
    if slots:
        s["slots"] = slots
    return s


@pytest.fixture(scope="module")
def featurizer():
    return DialogueFeaturizer.from_domain(DOMAIN)


def test_blocks_partition_a_turn_into_user_slots_and_previous_action(featurizer):
    user = featurizer.block("intent", "entities")
    slots = featurizer.block("slots", "loop")
    action = featurizer.block("action", "action_tokens")
    assert user.start == 0 and user.stop == slots.start and slots.stop == action.start
    assert action.stop == featurizer.turn_size
    assert action.stop - action.start == featurizer.label_size  # the label layout
    assert featurizer.block("entities", "entities").stop - featurizer.block(
        "entities", "entities").start == 2
    assert slots.stop - slots.start == 3  # the categorical slot: cheap, expensive, None


def test_user_turns_are_the_turns_after_action_listen():
    states = [{}, state("action_listen", "request_hotel"),
              state("utter_ask_price", "request_hotel"),
              state("action_listen", "inform")]
    np.testing.assert_array_equal(user_turns(states), [False, True, False, True])


def test_encode_keeps_the_user_part_only_after_the_user_spoke(featurizer):
    price = {"price": (1.0, 0.0, 0.0)}
    dialogue = [{}, state("action_listen", "request_hotel"),
                state("utter_ask_price", "request_hotel"),
                state("action_listen", "inform", ["price"], slots=price)]
    user, slots, previous = encode(featurizer, [dialogue], 6)
    assert user.shape == (1, 6, featurizer.block("intent", "entities").stop)
    assert previous.shape == (1, 6, featurizer.label_size) and slots.shape == (1, 6, 3)
    full = featurizer.encode_dialogues([dialogue], 6)
    user_part = full[0, :, featurizer.block("intent", "entities")]
    np.testing.assert_array_equal(user[0, [1, 3]], user_part[[1, 3]])
    assert user[0, 1].any() and user[0, 3].any()
    # Rasa 3 repeats the last user message after a bot action; REDP saw nothing there
    assert user_part[2].any() and not user[0, 2].any()
    assert not user[0, 0].any() and not user[0, 4:].any()
    np.testing.assert_array_equal(previous[0, :4], np.concatenate([
        np.zeros([1, featurizer.label_size], np.float32),
        featurizer.encode_actions(["action_listen", "utter_ask_price", "action_listen"])]))
    np.testing.assert_array_equal(slots[0, 3], [1.0, 0.0, 0.0])
    assert not previous[0, 4:].any() and not slots[0, 4:].any()  # padding


def test_encode_cuts_long_dialogues_and_pads_a_batch(featurizer):
    a = [state("action_listen", "inform"), state("utter_chitchat", "inform"),
         state("action_listen", "chitchat")]
    b = [state("action_listen", "request_hotel")]
    user, slots, previous = encode(featurizer, [a, b], 2)
    assert user.shape[:2] == slots.shape[:2] == previous.shape[:2] == (2, 2)
    np.testing.assert_array_equal(previous[0], featurizer.encode_actions(
        ["action_listen", "utter_chitchat"]))
    assert not user[0, 1].any() and user[1, 0].any() and not user[1, 1].any()
