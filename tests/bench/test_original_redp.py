"""bench/original_redp.py's pure parts: picking the original markdown of the benchmark's subsets,
reading rasa_core's score, the results grid (no Python 3.6 or rasa_core needed)."""
import json

import pytest

from tests.bench_scripts import bench_module

original = bench_module("original_redp")

MARKDOWN = """## hotel happy 1
* request_hotel
    - utter_ask_details
* inform{"location": "paris", "people": "4"}
    - utter_ask_price
    - slot{"hotel": "hotel"}

## Generated Story 1
* greet
    - utter_greet

## Generated Story 1
* greet
    - utter_greet
"""

YAML_HAPPY = """- story: hotel happy 1
  steps:
  - intent: request_hotel
  - action: utter_ask_details
  - intent: inform
    entities:
    - people: '4'
    - location: paris
  - slot_was_set:
    - location: paris
  - action: utter_ask_price
  - slot_was_set:
    - hotel: hotel
"""
YAML_GREET = """- story: Generated Story 1
  steps:
  - intent: greet
  - action: utter_greet
"""


def test_markdown_stories_split_at_each_header():
    blocks = original.markdown_stories(MARKDOWN)
    assert len(blocks) == 3 and all(b.startswith("## ") for b in blocks)
    assert original.markdown_signature(blocks[0]) == (
        ("intent", "request_hotel", ()), ("action", "utter_ask_details"),
        ("intent", "inform", ("location", "people")), ("action", "utter_ask_price"))


def test_the_original_of_each_kept_story_is_found_once(tmp_path):
    (tmp_path / "a.md").write_text(MARKDOWN)
    chosen = original.original_subset([YAML_GREET, YAML_HAPPY, YAML_GREET], tmp_path)
    blocks = original.markdown_stories(chosen)
    assert [b.splitlines()[0] for b in blocks] == [
        "## Generated Story 1", "## hotel happy 1", "## Generated Story 1"]
    assert 'inform{"location": "paris", "people": "4"}' in blocks[1]
    with pytest.raises(ValueError, match="no original markdown story"):  # only two greets exist
        original.original_subset([YAML_GREET] * 3, tmp_path)
    other = YAML_GREET.replace("utter_greet", "utter_goodbye")
    with pytest.raises(ValueError, match="no original markdown story"):
        original.original_subset([other], tmp_path)


def test_every_benchmark_subset_has_its_original_stories():
    bench = original.benchmark
    if not (bench.DATA / "original" / "train").exists():
        pytest.skip("the benchmark's data set is not beside this checkout")
    blocks = bench.training_stories(bench.DATA / "data" / "train")
    for percentage in (25, 75):
        kept = [blocks[i] for i in bench.kept_indices(len(blocks), percentage, seed=2)]
        chosen = original.original_subset(kept, bench.DATA / "original" / "train")
        assert len(original.markdown_stories(chosen)) == len(kept)


def test_parse_correct_reads_the_story_count_not_the_action_count():
    log = ("INFO:__main__:Evaluation Results on END-TO-END level:\n"
           "INFO:__main__:\tCorrect:          27 / 32\n"
           "INFO:__main__:Evaluation Results on ACTION level:\n"
           "INFO:__main__:\tCorrect:          994 / 1029\n")
    assert original.parse_correct(log) == (27, 32)
    with pytest.raises(ValueError, match="Correct"):
        original.parse_correct("Traceback ...")


def test_results_hold_only_the_papers_epochs(tmp_path):
    for cell, record in {"p75_run2": {"percentage": 75, "run": 2, "correct": 24,
                                      "train_seconds": 900.0, "epochs": 2000},
                         "p0_run1": {"percentage": 0, "run": 1, "correct": 0,
                                     "train_seconds": 5.0, "epochs": 2}}.items():
        (tmp_path / cell).mkdir()
        (tmp_path / cell / "record.json").write_text(json.dumps({**record, "machine": "cpu"}))
    results = original.results(tmp_path)
    assert results["percentages"] == [0, 25, 50, 75]
    assert results["runs"] == [[None] * 4, [None, None, None, 24], [None] * 4]
    assert results["train_seconds"][1][3] == 900.0
    assert "epochs: 2000" in results["config"]
