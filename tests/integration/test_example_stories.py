"""The example bot's stories: written by example_bot/make_stories.py, and consistent with its
domain's forms."""
from pathlib import Path

import yaml

from tests.bench_scripts import script_module

BOT = Path(__file__).resolve().parents[2] / "example_bot"
make_stories = script_module(BOT / "make_stories.py", "make_stories")


def test_the_committed_stories_are_the_generators_output(tmp_path, monkeypatch):
    monkeypatch.setattr(make_stories, "HERE", tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "tests").mkdir()
    make_stories.main()
    for name in ("data/stories.yml", "tests/test_stories.yml"):
        assert (tmp_path / name).read_text() == (BOT / name).read_text(), (
            f"{name} is out of date: run `python make_stories.py` in example_bot/")


def test_the_forms_required_slots_are_the_generators():
    forms = yaml.safe_load((BOT / "domain.yml").read_text())["forms"]
    assert {name: tuple(form["required_slots"]) for name, form in forms.items()} == {
        f"{task}_form": slots for task, slots in make_stories.REQUIRED.items()}


def test_the_test_stories_cover_what_the_bot_must_handle():
    stories = yaml.safe_load((BOT / "tests" / "test_stories.yml").read_text())["stories"]
    actions = [[step["action"] for step in story["steps"] if "action" in step]
               for story in stories]
    every = {a for story in actions for a in story}
    # each explanation of each detail, inside each form
    domain = yaml.safe_load((BOT / "domain.yml").read_text())
    assert {r for r in domain["responses"] if r.startswith("utter_explain_")} <= every
    assert {"utter_more_info_hotel", "utter_more_info_restaurant", "utter_chitchat"} <= every
    # a task switch and the return: the first form runs again after the second one's search
    switches = [story for story in actions
                if "action_search_restaurant" in story and "action_search_hotel" in story
                and story.index("hotel_form") < story.index("restaurant_form")
                < story.index("action_search_restaurant") < story.index("action_search_hotel")]
    assert switches
    users = [sum("user" in step for step in story["steps"]) for story in stories]
    assert max(users) >= 30
