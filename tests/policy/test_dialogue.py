"""The dialogue logic: digression restores and the pending question (dialogue.py), and where the
rules they encode don't hold."""
import numpy as np

from rasa_ntm_policy.dialogue import NO_RESTORE, context_actions, restore_indices
from tests.policy.test_featurizer import after, listen


def chitchat_loop(k):
    states = [{}, listen("request_hotel"), after("utter_ask_price", "request_hotel")]
    for _ in range(k):
        states += [listen("chitchat"), after("utter_chitchat", "chitchat"),
                   after("utter_ask_price", "chitchat")]
    return states


def test_a_digression_loop_returns_to_the_state_before_it():
    states = chitchat_loop(3) + [listen("inform", ["price"])]
    restore = restore_indices(states)
    # each re-ask returns to the first ask (turn 2); the loops' inner turns chain back too
    assert restore[5] == 2 and restore[8] == 5 and restore[11] == 8
    assert restore[4] == NO_RESTORE and restore[7] == 4
    assert restore[12] == NO_RESTORE  # the answer is new information


def test_however_long_the_digression_the_answer_comes_back_to_the_first_ask():
    for loops in (1, 40):
        states = chitchat_loop(loops) + [listen("inform", ["price"])]
        restore = restore_indices(states)
        assert restore[3 * loops + 2] in (2, 3 * loops - 1)
        t = 3 * loops + 2
        while restore[t] != NO_RESTORE:  # the chain of restores ends at the first ask
            t = restore[t]
        assert t == 2


def test_a_repeat_that_is_not_a_digression_restores_only_what_brought_nothing_new():
    """The rule fails where a bot repeats an action for another reason (a second search with
    the same details): the turns in between are forgotten, but they showed no new slot value
    and no new entity type, and the turn after the repeat goes on from there."""
    states = [{}, listen("request_hotel"), after("action_search", "request_hotel"),
              listen("affirm"), after("utter_ok", "affirm"), listen("deny"),
              after("action_search", "deny"), listen("affirm")]
    restore = restore_indices(states)
    assert restore[6] == 2
    assert (restore[np.arange(len(states)) != 6] == NO_RESTORE).all()


def test_new_information_or_new_slot_values_are_not_restored():
    states = [{}, listen("request_hotel"), after("utter_ask_price", "request_hotel"),
              listen("inform", ["price"]), after("utter_ask_price", "inform", ["price"])]
    assert restore_indices(states)[4] == NO_RESTORE  # a new entity was mentioned
    states = [{}, listen("request_hotel"), after("utter_ask_price", "request_hotel"),
              listen("chitchat"),
              after("utter_ask_price", "chitchat", slots={"price": (1.0, 0.0, 0.0)})]
    assert restore_indices(states)[4] == NO_RESTORE  # a slot changed


def test_context_action_is_the_bot_action_the_latest_user_message_answered():
    states = [{}, listen("request_hotel"), after("utter_ask_price", "request_hotel"),
              listen("chitchat"), after("utter_chitchat", "chitchat"),
              after("utter_ask_price", "chitchat"), listen("explain"),
              after("utter_explain_price_hotel", "explain")]
    assert context_actions(states) == [None, None, None, "utter_ask_price", "utter_ask_price",
                                       "utter_ask_price", "utter_ask_price", "utter_ask_price"]
    # the conversation's first user message answers nothing
    assert context_actions([listen("greet")]) == [None]


