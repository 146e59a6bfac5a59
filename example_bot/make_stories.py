"""Writes data/stories.yml, the example bot's training stories, from the scenarios below.

    cd example_bot && python make_stories.py

A story with forms has to spell out every event the forms cause (the active loop, the
question asked in requested_slot, the slot a form fills), in the order Rasa records them.
Writing that by hand for some sixty stories is where mistakes come from, so the stories
are built here by `Story`, which keeps that bookkeeping the way Rasa's forms do: a form
asks for the first of its required slots that is not set, and closes when none is left.
tests/integration/test_example_stories.py checks that data/stories.yml is this script's
output.
"""
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from actions.actions import search_hotel, search_restaurant  # noqa: E402

REQUIRED = {"hotel": ("location", "startdate", "enddate", "people", "price"),
            "restaurant": ("location", "cuisine", "people", "price")}
VALUES = {
    "location": ["Rome", "Paris", "Berlin", "London", "Madrid", "Lisbon", "Vienna",
                 "Amsterdam", "Barcelona", "Prague"],
    "startdate": ["tomorrow", "next friday", "monday", "march 3rd", "the 12th of may"],
    "enddate": ["sunday", "next tuesday", "march 6th", "the 15th of may", "thursday"],
    "people": ["2", "3", "4", "5", "6"],
    "price": ["cheap", "moderate", "expensive"],
    "cuisine": ["italian", "french", "thai", "indian", "japanese"],
}
DIGRESSIONS = ("chitchat", "explain", "did_that_work")


class Story:
    """One training story, built turn by turn as Rasa would record it."""

    def __init__(self, name: str, seed: int, with_text: bool = False) -> None:
        self.name = name
        self.seed = seed
        # test stories give each user message as text (entities annotated), for NLU in the loop
        self.with_text = with_text
        self.steps: List[str] = []
        self.slots: Dict[str, str] = {}
        self.form: Optional[str] = None
        self.requested: Optional[str] = None

    def value(self, slot: str, shift: int = 0) -> str:
        pool = VALUES[slot]
        return pool[(self.seed + shift) % len(pool)]

    # --- events -------------------------------------------------------------------------
    def _user(self, intent: str, entities: Sequence[Tuple[str, str]] = ()) -> None:
        if self.with_text:
            text = phrase(intent, entities, self.seed + len(self.steps))
            self.steps.append(f"      - user: |\n          {text}\n        intent: {intent}")
            return
        lines = [f"      - intent: {intent}"]
        if entities:
            lines.append("        entities:")
            lines += [f"          - {entity}: {_quoted(value)}" for entity, value in entities]
        self.steps.append("\n".join(lines))

    def _action(self, name: str) -> None:
        self.steps.append(f"      - action: {name}")

    def _slot(self, name: str, value: Optional[str]) -> None:
        shown = "null" if value is None else _quoted(value)
        self.steps.append(f"      - slot_was_set:\n          - {name}: {shown}")

    def _loop(self, form: Optional[str]) -> None:
        self.steps.append(f"      - active_loop: {form or 'null'}")

    # --- what the user does -------------------------------------------------------------
    def say(self, intent: str, **details: str) -> "Story":
        """A user message of intent with details (slot -> value), which action_extract_slots
        puts in their slots. The date the hotel form asks for comes as a bare `date`
        entity; any other detail as the entity that says what it is."""
        entities = []
        for slot, value in details.items():
            bare_date = slot in ("startdate", "enddate") and self.requested == slot
            entities.append(("date" if bare_date else slot, value))
        self._user(intent, entities)
        for slot, value in details.items():
            if self.slots.get(slot) != value:
                self.slots[slot] = value
                self._slot(slot, value)
        return self

    def answer(self, shift: int = 0) -> "Story":
        """The user answers the question asked, and the form goes on."""
        self.say("inform", **{self.requested: self.value(self.requested, shift)})
        return self.run_form(self.form)

    def request(self, task: str, **details: str) -> "Story":
        """The user asks for a booking; its form starts (or takes over)."""
        self.say(f"request_{task}", **details)
        return self.run_form(f"{task}_form")

    def digress(self, kind: str) -> "Story":
        """chitchat, explain or did_that_work inside a form: answered, then the form asks
        its question again."""
        task = self.form.split("_")[0]
        self._user(kind)
        self._action({"chitchat": "utter_chitchat",
                      "explain": f"utter_explain_{self.requested}_{task}",
                      "did_that_work": f"utter_more_info_{task}"}[kind])
        return self.run_form(self.form)

    def correct(self, slot: str, shift: int = 1) -> "Story":
        """The user changes an earlier detail inside a form: the form takes it and asks its
        question again."""
        self.say("correct", **{slot: self.value(slot, shift)})
        return self.run_form(self.form)

    def other_answer(self, slot: str) -> "Story":
        """The user answers another question than the one asked: the form takes it."""
        self.say("inform", **{slot: self.value(slot)})
        return self.run_form(self.form)

    # --- what the bot does --------------------------------------------------------------
    def run_form(self, form: str) -> "Story":
        """The form runs: it starts if it is not active, then asks for the first missing
        slot, or closes and the search runs."""
        self._action(form)
        if self.form != form:
            self.form = form
            self._loop(form)
        task = form.split("_")[0]
        missing = [s for s in REQUIRED[task] if s not in self.slots]
        if missing:
            self.requested = missing[0]
            self._slot("requested_slot", missing[0])
            return self
        self.requested = None
        self._slot("requested_slot", None)
        self._loop(None)
        self.form = None
        self._action("utter_filled_slots")
        return self.search(task)

    def search(self, task: str) -> "Story":
        self._action(f"action_search_{task}")
        if task == "hotel":
            found = search_hotel(self.slots["location"], self.slots["price"],
                                 self.slots["people"])
        else:
            found = search_restaurant(self.slots["location"], self.slots["price"],
                                      self.slots["cuisine"], self.slots["people"])
        self._slot(task, found)
        self._action(f"utter_suggest_{task}")
        return self

    def fill(self, until: Optional[str] = None) -> "Story":
        """The user answers every question (up to, not including, the one for until)."""
        while self.requested is not None and self.requested != until:
            self.answer()
        return self

    def bot(self, *actions: str) -> "Story":
        for action in actions:
            self._action(action)
        return self

    def user(self, intent: str) -> "Story":
        self._user(intent)
        return self

    def change_after_search(self, task: str, slot: str) -> "Story":
        """After a suggestion the user says no, changes a detail, and the search runs again."""
        self.user("deny").bot("utter_ask_change")
        self.say("correct", **{slot: self.value(slot, 2)})
        self._action(f"utter_correct_{slot}")
        return self.search(task)

    def yaml(self) -> str:
        return f"  - story: {self.name}\n    steps:\n" + "\n".join(self.steps) + "\n"


# How people say things, for the test stories: "{}" is the annotated entity.
PHRASES = {
    "greet": ["hello there!", "hi", "hey, good evening"],
    "affirm": ["yes, sounds great", "perfect, that one", "yes please", "that works"],
    "deny": ["no, not really", "hmm, no"],
    "thank": ["thanks so much", "thank you"],
    "goodbye": ["bye!", "goodbye then"],
    "chitchat": ["tell me a joke", "how's the weather today?", "are you a robot?",
                 "what's your favourite movie?", "haha you're funny", "do you ever sleep?"],
    "explain": ["why do you need that?", "why are you asking me that?", "what's that for?",
                "why does that matter?", "is that really necessary?"],
    "did_that_work": ["did that work?", "any luck?", "did you find anything?", "is it done?"],
    "request_hotel": ["I'd like to book a hotel", "can you find me a room?",
                      "and now I need a hotel too"],
    "request_hotel location": ["I need a hotel in {}", "find me a place to stay in {}"],
    "request_restaurant": ["I'd like to find a restaurant", "where could we eat tonight?",
                           "oh, first I need a restaurant"],
    "request_restaurant location": ["I need a restaurant in {}", "book me a table in {}"],
    "inform location": ["{} please", "in {}", "we're going to {}"],
    "inform date": ["{}", "{} please", "on {}"],
    "inform startdate": ["checking in on {}", "arriving {}"],
    "inform enddate": ["until {}", "checking out on {}"],
    "inform people": ["{} people", "we are {}", "there will be {} of us"],
    "inform price": ["{} please", "something {}", "{} would be good"],
    "inform cuisine": ["{} food", "I fancy {}", "{} please"],
    "correct location": ["sorry, I meant {}", "actually, make that {}"],
    "correct startdate": ["change the check-in to {}", "actually I'll arrive on {}"],
    "correct enddate": ["change the checkout date to {}", "actually I'm leaving {}"],
    "correct people": ["actually we'll be {}", "sorry, make it {} people"],
    "correct price": ["actually {} would be better", "change the price range to {}"],
    "correct cuisine": ["actually I'd prefer {}", "change the cuisine to {}"],
}


def phrase(intent: str, entities: Sequence[Tuple[str, str]], seed: int) -> str:
    """A user message of intent with its one entity (or none) annotated, from PHRASES."""
    if len(entities) > 1:
        raise ValueError("test stories give at most one detail per message")
    key = intent + "".join(f" {entity}" for entity, _ in entities)
    pool = PHRASES[key]
    text = pool[seed % len(pool)]
    return text.format(*(f"[{value}]({entity})" for entity, value in entities))


def _quoted(value: str) -> str:
    """value as a YAML scalar: quoted where YAML would read it otherwise (a number)."""
    plain = value.replace(" ", "").isalpha()
    return value if plain else json.dumps(value, ensure_ascii=False)


def stories() -> List[Story]:
    """Every scenario of the training stories."""
    built: List[Story] = []

    def story(name: str) -> Story:
        built.append(Story(name, seed=len(built)))
        return built[-1]

    # the happy paths, with more or fewer details in the first message
    for task, prefilled in (("hotel", ()), ("hotel", ("location",)),
                            ("hotel", ("location", "price")), ("hotel", ("people",)),
                            ("restaurant", ()), ("restaurant", ("location",)),
                            ("restaurant", ("location", "cuisine")),
                            ("restaurant", ("price",))):
        s = story(f"{task} happy path, {' and '.join(prefilled) or 'nothing'} given first")
        if len(built) % 2:
            s.user("greet").bot("utter_greet")
        s.request(task, **{slot: s.value(slot) for slot in prefilled}).fill()
        s.user("affirm").bot("utter_happy")
        if len(built) % 3 == 0:
            s.user("thank").bot("utter_welcome").user("goodbye").bot("utter_goodbye")

    # each digression at each question
    for task in ("hotel", "restaurant"):
        for slot in REQUIRED[task]:
            for kind in DIGRESSIONS:
                s = story(f"{task}, {kind} at the {slot} question")
                s.request(task).fill(until=slot).digress(kind).fill()
                s.user("affirm").bot("utter_happy")

    # digressions at several questions of one booking
    for task in ("hotel", "restaurant"):
        for start in (0, 1):
            s = story(f"{task}, digressions at every other question from the "
                      f"{REQUIRED[task][start]} one")
            s.request(task)
            for index, slot in enumerate(REQUIRED[task]):
                if index % 2 == start:
                    s.digress(DIGRESSIONS[(index + start + len(built)) % 3])
                s.answer()
            s.user("affirm").bot("utter_happy")

    # two bookings one after the other, with digressions and a change after the second
    for first, second in (("hotel", "restaurant"), ("restaurant", "hotel")):
        s = story(f"a {first} and then a {second}")
        s.user("greet").bot("utter_greet").request(first).fill(until="people")
        s.digress("chitchat").fill().user("affirm").bot("utter_happy")
        s.user("thank").bot("utter_welcome").request(second).digress("explain").fill()
        s.user("chitchat").bot("utter_chitchat").user("did_that_work")
        s.bot(f"utter_worked_{second}").change_after_search(second, "people")
        s.user("affirm").bot("utter_happy").user("goodbye").bot("utter_goodbye")

    # two digressions in a row
    for task, slot, kinds in (("hotel", "enddate", ("chitchat", "explain")),
                              ("hotel", "people", ("explain", "did_that_work")),
                              ("restaurant", "cuisine", ("did_that_work", "chitchat")),
                              ("restaurant", "price", ("chitchat", "chitchat"))):
        s = story(f"{task}, {kinds[0]} then {kinds[1]} at the {slot} question")
        s.request(task, location=VALUES["location"][len(built) % 10]).fill(until=slot)
        for kind in kinds:
            s.digress(kind)
        s.fill().user("affirm").bot("utter_happy")

    # corrections of an earlier detail inside the form
    for task, slot, at in (("hotel", "location", "startdate"), ("hotel", "startdate", "enddate"),
                           ("hotel", "enddate", "people"), ("hotel", "people", "price"),
                           ("restaurant", "location", "cuisine"),
                           ("restaurant", "cuisine", "people"),
                           ("restaurant", "people", "price"), ("hotel", "price", "enddate")):
        s = story(f"{task}, the {slot} corrected at the {at} question")
        if slot == "price":
            s.request(task, price=s.value("price"))
        else:
            s.request(task)
        s.fill(until=at).correct(slot).fill().user("affirm").bot("utter_happy")

    # an answer to another question than the one asked
    for task, at, given in (("hotel", "startdate", "people"), ("hotel", "enddate", "price"),
                            ("restaurant", "cuisine", "price"),
                            ("restaurant", "location", "people")):
        s = story(f"{task}, the {given} given at the {at} question")
        s.request(task).fill(until=at).other_answer(given).fill()
        s.user("affirm").bot("utter_happy")

    # after the suggestion: a change, "did that work?", thanks
    for task, slot in (("hotel", "price"), ("hotel", "people"), ("restaurant", "cuisine"),
                       ("restaurant", "location")):
        s = story(f"{task}, the {slot} changed after the suggestion")
        s.request(task).fill().change_after_search(task, slot)
        s.user("affirm").bot("utter_happy").user("thank").bot("utter_welcome")
    for task in ("hotel", "restaurant"):
        s = story(f"{task}, did that work after the suggestion")
        s.request(task, location=s.value("location")).fill()
        s.user("did_that_work").bot(f"utter_worked_{task}").user("affirm").bot("utter_happy")
    for task in ("restaurant", "hotel"):
        s = story(f"{task}, chitchat after the suggestion")
        s.request(task, location=s.value("location")).fill()
        s.user("chitchat").bot("utter_chitchat").user("did_that_work").bot(f"utter_worked_{task}")
        s.user("affirm").bot("utter_happy")

    # a task switch: another booking in the middle of one, then back to the first
    switches = (("hotel", "restaurant", "startdate"), ("hotel", "restaurant", "enddate"),
                ("hotel", "restaurant", "people"), ("hotel", "restaurant", "price"),
                ("restaurant", "hotel", "cuisine"), ("restaurant", "hotel", "people"))
    for outer, inner, at in switches:
        s = story(f"{outer} interrupted at the {at} question by a {inner}, then resumed")
        s.request(outer, location=s.value("location")).fill(until=at)
        s.request(inner).fill().user("affirm").bot("utter_happy")
        s.run_form(f"{outer}_form").fill().user("affirm").bot("utter_happy")
    # the same task switches with a digression on each side: before the switch, in the
    # outer booking, and at the other booking's first question
    for index, (outer, inner, at) in enumerate(switches):
        before, inside = DIGRESSIONS[index % 3], DIGRESSIONS[(index + 1) % 3]
        s = story(f"{outer} interrupted at the {at} question by a {inner}, {before} before "
                  f"and {inside} inside, then resumed")
        s.request(outer, location=s.value("location")).fill(until=at).digress(before)
        s.request(inner).digress(inside).fill().user("affirm").bot("utter_happy")
        s.run_form(f"{outer}_form").fill().user("affirm").bot("utter_happy")
    s = story("hotel interrupted by a restaurant with a digression, then resumed")
    s.request("hotel").fill(until="enddate").request("restaurant").digress("explain").fill()
    s.user("affirm").bot("utter_happy").run_form("hotel_form").digress("chitchat").fill()
    s.user("affirm").bot("utter_happy")
    return built


def test_stories() -> List[Story]:
    """The test stories: user messages as text, so `rasa test` runs the NLU too, in other
    combinations than the training stories (several digressions in one booking, every
    detail corrected, long conversations)."""
    built: List[Story] = []

    def story(name: str) -> Story:
        built.append(Story(name, seed=len(built) + 7, with_text=True))
        return built[-1]

    # every digression kind at every question, three bookings per task
    for task in ("hotel", "restaurant"):
        for rotation in range(3):
            s = story(f"test {task}, a digression at every question ({rotation + 1})")
            s.user("greet").bot("utter_greet").request(task)
            for index, slot in enumerate(REQUIRED[task]):
                s.digress(DIGRESSIONS[(index + rotation) % 3]).answer()
            s.user("affirm").bot("utter_happy")
    # two digressions in a row
    for task, slot in (("hotel", "startdate"), ("restaurant", "people")):
        s = story(f"test {task}, two digressions in a row at the {slot} question")
        s.request(task, location=s.value("location")).fill(until=slot)
        s.digress("explain").digress("chitchat").fill().user("affirm").bot("utter_happy")
    # every detail corrected inside the form, one story per task
    s = story("test hotel, every detail corrected")
    s.request("hotel")
    for earlier, at in (("location", "enddate"), ("startdate", "people"), ("people", "price")):
        s.fill(until=at).correct(earlier)
    s.fill().change_after_search("hotel", "price").user("affirm").bot("utter_happy")
    s = story("test restaurant, every detail corrected")
    s.request("restaurant").fill(until="people").correct("cuisine").correct("location")
    s.fill().change_after_search("restaurant", "people").user("affirm").bot("utter_happy")
    s = story("test hotel, the check-out corrected")
    s.request("hotel").fill(until="price").correct("enddate").fill()
    s.user("affirm").bot("utter_happy")
    # answers to other questions than the one asked
    s = story("test hotel, answers to other questions")
    s.request("hotel", location=s.value("location")).other_answer("price")
    s.other_answer("people").fill().user("affirm").bot("utter_happy")
    s = story("test restaurant, an answer to another question")
    s.request("restaurant").fill(until="cuisine").other_answer("people").fill()
    s.user("affirm").bot("utter_happy")
    # task switches and the way back
    s = story("test a restaurant in the middle of a hotel booking")
    s.request("hotel", location=s.value("location")).fill(until="enddate")
    s.request("restaurant").fill().user("affirm").bot("utter_happy")
    s.run_form("hotel_form").fill().user("thank").bot("utter_welcome")
    s = story("test a hotel in the middle of a restaurant booking, with digressions")
    s.request("restaurant").fill(until="cuisine").digress("chitchat")
    s.request("hotel").digress("explain").fill().user("affirm").bot("utter_happy")
    s.run_form("restaurant_form").digress("did_that_work").fill()
    s.user("affirm").bot("utter_happy")
    # a long conversation: two bookings, digressions, changes, thanks
    s = story("test a long conversation of two bookings")
    s.user("greet").bot("utter_greet").request("hotel")
    for slot, kinds in (("location", ("chitchat",)), ("startdate", ("explain", "chitchat")),
                        ("enddate", ("did_that_work",)), ("people", ("chitchat", "explain")),
                        ("price", ("did_that_work", "chitchat"))):
        for kind in kinds:
            s.digress(kind)
        s.answer()
    s.user("did_that_work").bot("utter_worked_hotel")
    s.change_after_search("hotel", "people").user("affirm").bot("utter_happy")
    s.user("thank").bot("utter_welcome").request("restaurant").digress("explain")
    s.digress("chitchat").digress("did_that_work").answer()
    s.user("chitchat").bot("utter_chitchat").user("did_that_work").bot("utter_worked_restaurant")
    s.change_after_search("restaurant", "cuisine").user("affirm").bot("utter_happy")
    s.user("chitchat").bot("utter_chitchat")
    s.user("goodbye").bot("utter_goodbye")
    return built


def write(path: Path, header: str, built: Sequence[Story]) -> None:
    path.write_text(header + '\nversion: "3.1"\n\nstories:\n'
                    + "\n".join(s.yaml() for s in built))


def main() -> None:
    write(HERE / "data" / "stories.yml",
          "# Training stories of the example bot, written by make_stories.py: edit that\n"
          "# and run `python make_stories.py` in example_bot/.\n", stories())
    write(HERE / "tests" / "test_stories.yml",
          "# Test stories of the example bot, written by make_stories.py (edit that and run\n"
          "# `python make_stories.py` in example_bot/). The user messages are text, so the\n"
          "# NLU runs in the loop:\n"
          "#\n"
          "#   rasa test core --stories tests/test_stories.yml --model models/\n", test_stories())


if __name__ == "__main__":
    main()
