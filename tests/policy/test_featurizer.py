import numpy as np
import pytest
from rasa.shared.core.domain import Domain

from rasa_ntm_policy.featurizer import DialogueFeaturizer, name_tokens, names_needing_ids

DOMAIN = Domain.from_yaml("""
version: "3.1"
intents: [request_hotel, inform, chitchat]
entities: [price]
slots:
  price:
    type: categorical
    values: [cheap, expensive]
    mappings: [{type: from_entity, entity: price}]
responses:
  utter_ask_price: [{text: "price?"}]
  utter_explain_price_hotel: [{text: "because"}]
  utter_chitchat: [{text: "bla"}]
""")


def listen(intent, entities=()):
    user = {"intent": intent}
    if entities:
        user["entities"] = tuple(entities)
    return {"prev_action": {"action_name": "action_listen"}, "user": user}


def after(action, intent, entities=(), slots=None):
    state = listen(intent, entities)
    state["prev_action"] = {"action_name": action}
    if slots:
        state["slots"] = slots
    return state


def test_names_split_into_tokens():
    assert name_tokens("utter_explain_price_hotel") == ["utter", "explain", "price", "hotel"]
    assert name_tokens(None) == []


def test_only_names_their_tokens_cannot_tell_apart_get_ids():
    assert names_needing_ids(["utter_a_b", "utter_b_a", "utter_c"]) == ["utter_a_b", "utter_b_a"]


def test_turn_features_have_intent_tokens_entities_slots_and_previous_action():
    f = DialogueFeaturizer.from_domain(DOMAIN)
    x = f.encode_dialogue([after("utter_explain_price_hotel", "request_hotel", ["price"],
                                 {"price": (1.0, 0.0, 0.0)})])[0]
    assert x.shape == (f.turn_size,) and set(np.unique(x)) <= {0.0, 1.0}
    # tokens request, hotel + entity price + slot value + action tokens utter/explain/price/hotel
    assert x.sum() == 2 + 1 + 1 + 4
    # the label features of an action are the previous-action block of the turn features
    label = f.encode_actions(["utter_explain_price_hotel"])[0]
    np.testing.assert_array_equal(x[-f.label_size:], label)


def test_unknown_names_and_slots_are_ignored_not_fatal():
    f = DialogueFeaturizer.from_domain(DOMAIN)
    x = f.encode_dialogue([after("utter_brand_new", "never_seen", ["nope"],
                                 {"price": (1.0,), "unknown_slot": (1.0,)})])
    assert x.shape == (1, f.turn_size) and x.sum() == 1  # only the known token "utter"
    assert f.encode_actions(["action_unknown_thing"]).shape == (1, f.label_size)


def test_featurizer_round_trips_through_json_dict():
    f = DialogueFeaturizer.from_domain(DOMAIN)
    g = DialogueFeaturizer.from_dict(f.to_dict())
    states = [listen("request_hotel"), after("utter_ask_price", "request_hotel")]
    np.testing.assert_array_equal(f.encode_dialogue(states), g.encode_dialogue(states))
    np.testing.assert_array_equal(f.encode_actions(DOMAIN.action_names_or_texts),
                                  g.encode_actions(DOMAIN.action_names_or_texts))


def test_context_block_holds_the_context_action_in_label_layout():
    f = DialogueFeaturizer.from_domain(DOMAIN, context_action=True)
    plain = DialogueFeaturizer.from_domain(DOMAIN)
    assert f.turn_size == plain.turn_size + f.label_size
    states = [listen("request_hotel"), after("utter_ask_price", "request_hotel"),
              listen("chitchat"), after("utter_chitchat", "chitchat")]
    x = f.encode_dialogue(states)
    context = f.block("context", "context")
    np.testing.assert_array_equal(x[3, context], f.encode_actions(["utter_ask_price"])[0])
    assert x[:2, context].sum() == 0
    # the previous action stays the last block (the copy mechanism's values)
    np.testing.assert_array_equal(x[3, -f.label_size:], f.encode_actions(["utter_chitchat"])[0])
    # everything else is what the featurizer without context gives
    rest = np.delete(x, np.arange(context.start, context.stop), axis=1)
    np.testing.assert_array_equal(rest, plain.encode_dialogue(states))


def test_selected_turns_get_their_context_from_the_whole_conversation():
    f = DialogueFeaturizer.from_domain(DOMAIN, context_action=True)
    states = [listen("request_hotel"), after("utter_ask_price", "request_hotel"),
              listen("chitchat"), after("utter_chitchat", "chitchat")]
    np.testing.assert_array_equal(f.encode_dialogue(states, [0, 3]),
                                  f.encode_dialogue(states)[[0, 3]])
    g = DialogueFeaturizer.from_dict(f.to_dict())
    assert g.context_action
    np.testing.assert_array_equal(g.encode_dialogue(states), f.encode_dialogue(states))


def test_a_vocabulary_of_an_earlier_format_is_refused():
    old = DialogueFeaturizer.from_domain(DOMAIN).to_dict()
    old["format_version"] = 1
    with pytest.raises(ValueError, match="format"):
        DialogueFeaturizer.from_dict(old)


def test_action_names_that_share_no_tokens_keep_every_action_apart():
    """The token rule (names are meaningful "_"-separated tokens) fails for names like these:
    nothing is shared, and every action still has features of its own."""
    names = ["greet", "goodbye", "action_a1", "a1_action", "x", "utter"]
    f = DialogueFeaturizer(intents=["hi"], entities=[], slots={}, loops=[], actions=names)
    labels = f.encode_actions(names)
    assert len({tuple(row) for row in labels}) == len(names)
    assert set(f.actions) == {"action_a1", "a1_action"}  # same tokens: an id each
    cosine = labels @ labels.T / np.outer(*(2 * [np.linalg.norm(labels, axis=1)]))
    assert np.allclose(cosine[:2, 2:], 0) and np.allclose(cosine[2:, :2], 0)


def test_token_sources_map_a_turn_to_the_action_tokens_it_names():
    f = DialogueFeaturizer.from_domain(DOMAIN, context_action=True)
    sources = f.token_sources()
    assert sources.shape == (f.turn_size, 3, f.label_size)  # previous, context, user
    states = [listen("request_hotel", ["price"]), after("utter_ask_price", "request_hotel"),
              listen("chitchat"), after("utter_chitchat", "chitchat")]
    x = f.encode_dialogue(states)
    previous, context, user = np.einsum("tf,fkl->ktl", x, sources)
    labels = {name: f.encode_actions([name])[0] for name in
              ("utter_ask_price", "utter_chitchat", "utter_explain_price_hotel")}
    np.testing.assert_array_equal(previous[3], labels["utter_chitchat"])
    np.testing.assert_array_equal(context[3], labels["utter_ask_price"])
    tokens = f.action_tokens
    named = {t for t, column in tokens.items() if user[0, len(f.actions) + column]}
    # request_hotel names "hotel", the entity price names "price"; "request" is no action token
    assert named == {"hotel", "price"}
    assert {t for t, column in tokens.items() if user[2, len(f.actions) + column]} == {"chitchat"}
    assert not user[:, :len(f.actions)].any()
    plain = DialogueFeaturizer.from_domain(DOMAIN).token_sources()
    assert plain.shape[1] == 2  # without context_action: previous and user
