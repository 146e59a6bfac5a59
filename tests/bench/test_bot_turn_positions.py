"""bench/bot_turn_positions.py: each action of a failed story counted under its place in the
bot's turn, the implied action_listen included, the final one not."""
import math

import pytest

from tests.bench_scripts import bench_module

positions = bench_module("bot_turn_positions")

FAILED = """version: "3.1"
stories:
- story: one (/data/eval.yml)
  steps:
  - intent: inform
    entities:
    - train_day: specific
  - action: inform_train
  - action: offerbook_train  # predicted: action_listen
  - action: reqmore_general
  - intent: inform
  - action: request_train
  - action: action_listen  # predicted: offerbook_train
  - intent: bye
  - action: bye_general  # predicted: welcome_general
- story: two (/data/eval.yml)
  steps:
  - intent: greet
  - action: greet_general
  - intent: bye
  - action: bye_general
"""


def test_each_action_is_counted_under_its_place_in_the_bot_turn():
    total, right = positions.place_counts(positions.parse_failed_stories(FAILED))
    # story one: 1st inform_train, request_train, bye_general; 2nd offerbook_train; 3rd+
    # reqmore_general; listens: the implied one before "inform", the wrong one before "bye";
    # story two: 1st greet_general, bye_general; the implied listen before "bye"
    assert total == {"1st": 5, "2nd": 1, "3rd+": 1, "listen": 3}
    assert right == {"1st": 4, "2nd": 0, "3rd+": 1, "listen": 2}


def test_the_report_reads_test_dirs_and_leaves_an_empty_place_nan(tmp_path):
    (tmp_path / "failed_test_stories.yml").write_text(FAILED)
    result = positions.report([tmp_path, tmp_path])
    assert result["1st"] == {"actions": 10, "accuracy": 0.8}
    assert result["listen"]["actions"] == 6
    (tmp_path / "failed_test_stories.yml").write_text("version: '3.1'\nstories: []\n")
    assert math.isnan(positions.report([tmp_path])["2nd"]["accuracy"])


def test_a_test_dir_without_failed_stories_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="failed_test_stories.yml not found"):
        positions.report([tmp_path])
