"""The example bot's custom actions (searches, the forms' validation, dates), without a running
action server."""
import asyncio
import datetime
import re
import socket
import sys
import time
from pathlib import Path

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "example_bot"))
from actions.actions import (  # noqa: E402
    ActionSearchHotel, ValidateHotelForm, ValidateRestaurantForm, known_cities, known_cuisines,
    search_hotel, search_restaurant, value_before_last_message)
from actions.dates import parse_date  # noqa: E402
from tests.integration.conftest import BOT, action_server, stop  # noqa: E402

TODAY = datetime.date(2026, 12, 1)  # a Tuesday


def test_an_exact_match_is_described_without_caveats():
    found = search_hotel("Rome", "cheap", "3")
    assert "Rome" in found and "(" not in found


def test_unmatched_wishes_are_relaxed_and_said_so():
    found = search_restaurant("rome", "expensive", "sushi", "30")
    assert "Rome" in found and "couldn't match" in found


def test_unknown_or_missing_cities_get_a_graceful_answer():
    assert "Atlantis" in search_hotel("Atlantis") and "don't have" in search_hotel("Atlantis")
    assert "tell me a city" in search_restaurant(None)


@pytest.mark.parametrize("text, after, expected", [
    ("tomorrow", None, "2026-12-02"), ("tonight", None, "2026-12-01"),
    ("the day after tomorrow", None, "2026-12-03"), ("friday", None, "2026-12-04"),
    ("next friday", None, "2026-12-04"), ("tuesday", None, "2026-12-08"),
    ("sunday", "2026-12-11", "2026-12-13"), ("the day after", "2026-12-04", "2026-12-05"),
    ("until sunday", None, "2026-12-06"), ("this weekend", None, "2026-12-05"),
    ("march 3rd", None, "2027-03-03"), ("the 12th of may", None, "2027-05-12"),
    ("12 May", None, "2027-05-12"), ("march 8th", "2027-03-10", "2027-03-08"),
    ("the 15th", None, "2026-12-15"), ("the 1st", "2026-12-04", "2027-01-01"),
    ("2026-12-24", None, "2026-12-24"), ("Sunday!", None, "2026-12-06"),
])
def test_dates_people_give_are_read(text, after, expected):
    reference = datetime.date.fromisoformat(after) if after else None
    assert parse_date(text, TODAY, after=reference) == datetime.date.fromisoformat(expected)


@pytest.mark.parametrize("text", ["", None, "soon", "the 31st of february", "march 40th",
                                  "whenever", "42"])
def test_what_is_not_a_date_reads_as_none(text):
    assert parse_date(text, TODAY) is None


def tracker(slots=None, events=(), intent="inform", requested=None):
    slots = {"requested_slot": requested, **(slots or {})}
    return Tracker("test", slots, {"intent": {"name": intent}, "entities": []}, list(events),
                   False, None, {"name": "hotel_form"}, "action_listen")


class FixedDayHotelForm(ValidateHotelForm):
    @staticmethod
    def today():
        return TODAY


def responses(dispatcher):
    return [m["response"] for m in dispatcher.messages]


def test_a_city_without_places_is_rejected_and_a_known_one_normalised():
    dispatcher = CollectingDispatcher()
    form = ValidateHotelForm()
    assert form.validate_location("Atlantis", dispatcher, tracker(), {}) == {"location": None}
    assert responses(dispatcher) == ["utter_unknown_city", None]
    assert "Rome" in dispatcher.messages[1]["text"] and "Atlantis" not in str(dispatcher.messages)
    assert form.validate_location("rome", CollectingDispatcher(), tracker(), {}) == {
        "location": "Rome"}
    # the restaurant form knows the restaurants' cities
    assert ValidateRestaurantForm().validate_location(
        "Madrid", CollectingDispatcher(), tracker(), {}) == {"location": "Madrid"}


def test_every_placeholder_of_a_response_is_a_slot():
    """NTMPolicy (or any policy) may choose any response of the domain; Rasa then fills it from
    the slots alone, and a placeholder no slot fills would reach the user as "{x}"."""
    domain = yaml.safe_load((BOT / "domain.yml").read_text())
    unfilled = {(name, placeholder)
                for name, variants in domain["responses"].items() for variant in variants
                for placeholder in re.findall(r"{(\w+)}", variant.get("text", ""))
                if placeholder not in domain["slots"]}
    assert unfilled == set()


def test_a_check_out_not_after_the_check_in_is_asked_again():
    form, dispatcher = FixedDayHotelForm(), CollectingDispatcher()
    before = tracker({"startdate": "march 10th"}, requested="enddate")
    assert form.validate_enddate("march 8th", dispatcher, before, {}) == {"enddate": None}
    assert form.validate_enddate("march 10th", dispatcher, before, {}) == {"enddate": None}
    assert responses(dispatcher) == ["utter_enddate_not_after_startdate"] * 2
    # a weekday is the first one after the check-in
    assert form.validate_enddate("sunday", CollectingDispatcher(), before, {}) == {
        "enddate": "sunday"}


def test_a_later_check_in_clears_an_absolute_check_out_before_it():
    form, dispatcher = FixedDayHotelForm(), CollectingDispatcher()
    state = tracker({"startdate": "march 20th", "enddate": "march 12th"}, requested="people")
    checked = form.validate_startdate("march 20th", dispatcher, state, {})
    assert checked == {"startdate": "march 20th", "enddate": None}
    assert "utter_enddate_not_after_startdate" in responses(dispatcher)


def test_dates_it_cannot_read_are_asked_again():
    dispatcher = CollectingDispatcher()
    assert FixedDayHotelForm().validate_startdate("soonish", dispatcher, tracker(), {}) == {
        "startdate": None}
    assert responses(dispatcher) == ["utter_unknown_date"]


@pytest.mark.parametrize("said, kept", [("four", "4"), ("3 people", "3"), ("20", "20"),
                                        ("0", None), ("21", None), ("lots", None)])
def test_group_sizes_are_read_and_checked(said, kept):
    dispatcher = CollectingDispatcher()
    assert ValidateHotelForm().validate_people(said, dispatcher, tracker(), {}) == {"people": kept}
    assert responses(dispatcher) == ([] if kept else ["utter_wrong_people"])


def test_a_changed_detail_is_acknowledged_but_an_answer_is_not():
    events = [{"event": "slot", "name": "people", "value": "2"},
              {"event": "user", "text": "actually make it 3 people"}]
    assert value_before_last_message(tracker(events=events), "people") == "2"
    dispatcher = CollectingDispatcher()
    form = ValidateHotelForm()
    form.validate_people("3", dispatcher, tracker(events=events, requested="price"), {})
    assert responses(dispatcher) == ["utter_correct_people"]
    assert dispatcher.messages[0]["people"] == "3"
    answer = CollectingDispatcher()  # the answer to the question asked
    form.validate_people("3", answer, tracker(events=events, requested="people"), {})
    assert answer.messages == []


def test_a_request_for_the_other_booking_rejects_the_form():
    state = tracker({"location": "Rome"}, intent="request_restaurant", requested="startdate")
    events = asyncio.run(ValidateHotelForm().run(CollectingDispatcher(), state, {}))
    assert events == [{"event": "action_execution_rejected", "name": "hotel_form",
                       "policy": None, "confidence": None, "timestamp": None}]


def test_a_search_with_a_detail_missing_does_not_run():
    dispatcher = CollectingDispatcher()
    state = tracker({"location": "Rome", "startdate": "friday", "people": "2", "price": "cheap"})
    events = ActionSearchHotel().run(dispatcher, state, {})
    assert events == [{"event": "slot", "name": "hotel", "value": None, "timestamp": None}]
    assert responses(dispatcher) == ["utter_more_info_hotel"]


NLU = yaml.safe_load((Path(__file__).resolve().parents[2] / "example_bot" / "data" /
                      "nlu.yml").read_text())["nlu"]


def lookup(name):
    """The entries of the NLU lookup table `name` in example_bot/data/nlu.yml, lower case."""
    examples = next(block["examples"] for block in NLU if block.get("lookup") == name)
    return {line[2:].strip().lower() for line in examples.splitlines() if line.startswith("- ")}


def annotated(entity):
    """The values of entity annotated in the NLU's intent examples, lower case."""
    found = set()
    for block in NLU:
        for line in block.get("examples", "").splitlines() if "intent" in block else ():
            found |= {m.lower() for m in re.findall(r"\[([^\]]+)\]\(" + entity + r"\)", line)}
            found |= {m.lower() for m in re.findall(
                r'\[[^\]]+\]\{"entity": "' + entity + r'", "value": "([^"]+)"', line)}
    return found


def test_the_nlu_knows_every_city_and_cuisine_the_searches_have():
    # a place the search could find but the NLU can't tag can't be asked for: each one is in
    # the lookup table and in at least one example (a lookup table alone is not enough for a
    # word the NLU has never seen in a sentence)
    cities = {c.lower() for c in known_cities("hotels") + known_cities("restaurants")}
    cuisines = {c.lower() for c in known_cuisines()}
    assert cities <= lookup("location")
    assert cuisines <= lookup("cuisine")
    assert cuisines <= annotated("cuisine")
    assert cities <= annotated("location"), sorted(cities - annotated("location"))


def _health_over(connection: socket.socket) -> bytes:
    """Sends GET /health on an open keep-alive connection; the reply's status line (b"" when
    the server has closed the connection)."""
    try:
        connection.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           b"Connection: keep-alive\r\n\r\n")
        reply = connection.recv(4096)
    except OSError:
        return b""
    return reply.split(b"\r\n", 1)[0]


def test_the_action_server_keeps_idle_connections_longer_than_rasa_reuses_them():
    """Rasa reuses a connection to the action server for up to 15 s (aiohttp's keep-alive); a
    server that closes idle connections sooner (Sanic's default, 5 s) makes a request sent at
    that moment fail, and the action's events are lost. scripts/run_actions.sh keeps them."""
    process, webhook = action_server()
    try:
        port = int(webhook.split(":")[2].split("/")[0])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            assert _health_over(connection) == b"HTTP/1.1 200 OK"
            time.sleep(16)
            assert _health_over(connection) == b"HTTP/1.1 200 OK"
    finally:
        stop([process])
