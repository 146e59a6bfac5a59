"""Action accuracy by the action's place in the bot's turn, from `rasa test core`'s output.

A bot turn is the bot's actions between two user messages, then action_listen. Each action of
the evaluation stories is counted under its place: "1st" (the first action after the user's
message), "2nd", "3rd+", or "listen" (the action_listen that ends a turn); the report gives, per
place, how many there are and the fraction predicted right. It shows where two policies differ
(on MultiWOZ: the first action, or whether the bot says more before it listens).

Read from failed_test_stories.yml, which holds every story with a wrong prediction, each action
marked `# predicted: X` where it was wrong and an action_listen written only where it was wrong
(the listen before each user message is implied). Stories with every action right are not in it
and are not counted: the figures are over the failed stories (on MultiWOZ all but 1 to 4 of 140).
The action_listen after a story's last action is not counted (the story ends before it).

  .venv/bin/python bench/bot_turn_positions.py WORK/NTMPolicy-<hash>/run1/test [more test dirs]
"""
import argparse
import collections
import re
import sys
from pathlib import Path
from typing import Counter, Dict, Iterable, List, Optional, Tuple

from rasa.shared.core.constants import ACTION_LISTEN_NAME

PLACES = ("1st", "2nd", "3rd+", "listen")
STEP = re.compile(r"^\s*- (intent|action): (\S+)(?:\s+# predicted: (\S+))?")

# (kind, name, predicted or None): kind "intent" or "action"
Step = Tuple[str, str, Optional[str]]


def parse_failed_stories(text: str) -> List[List[Step]]:
    """The steps of each story of a failed_test_stories.yml (comments are lost to a YAML
    parser, so the lines are read as they are)."""
    stories: List[List[Step]] = []
    for line in text.splitlines():
        if line.startswith("- story:"):
            stories.append([])
            continue
        match = STEP.match(line)
        if match and stories:
            stories[-1].append((match.group(1), match.group(2), match.group(3)))
    return stories


def place_counts(stories: Iterable[List[Step]]) -> Tuple[Counter, Counter]:
    """(actions per place, right ones per place) over the stories' bot actions."""
    total, right = collections.Counter(), collections.Counter()
    for steps in stories:
        place, listened = 0, True  # listened: the turn's action_listen has been written
        for kind, name, predicted in steps:
            if kind == "intent":
                if not listened:  # the implied action_listen, predicted right
                    total["listen"] += 1
                    right["listen"] += 1
                place, listened = 0, True
                continue
            if name == ACTION_LISTEN_NAME:
                key, listened = "listen", True
            else:
                key, listened = PLACES[min(place, 2)], False
                place += 1
            total[key] += 1
            right[key] += predicted is None
    return total, right


def report(test_dirs: Iterable[Path]) -> Dict[str, Dict[str, float]]:
    """{place: {"actions": n, "accuracy": right / n}} over the failed stories of the dirs."""
    total, right = collections.Counter(), collections.Counter()
    for test_dir in test_dirs:
        path = Path(test_dir) / "failed_test_stories.yml"
        if not path.exists():
            raise SystemExit(f"{path} not found: score the model with rasa test core first")
        dir_total, dir_right = place_counts(parse_failed_stories(path.read_text()))
        total.update(dir_total)
        right.update(dir_right)
    return {place: {"actions": total[place],
                    "accuracy": right[place] / total[place] if total[place] else float("nan")}
            for place in PLACES}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("test_dirs", nargs="+", type=Path,
                        help="rasa test core output directories (with failed_test_stories.yml)")
    result = report(parser.parse_args(argv).test_dirs)
    print("| place in the bot turn | actions | accuracy |\n| --- | --- | --- |")
    for place, figures in result.items():
        print(f"| {place} | {figures['actions']} | {figures['accuracy']:.3f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
