"""A quick check of NTMPolicy alone on the REDP / TED few-shot benchmark data.

Not the papers' protocol (that is `rasa train core --percentages` + `rasa test core`, issue 4):
this trains one NTMPolicy through Rasa's Python API on data/train/ (optionally excluding a
fraction of the stories, seeded), and counts the test stories whose every action it predicts
(the policy alone, no Memoization or Rule policy), on data/test/ and on a harder variant of the
test set with every chitchat digression repeated --repeat times (longer than any training story).

  .venv/bin/python bench/redp_quick.py --exclude 0 --seed 0 --config '{"epochs": 200}'
"""
import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("LOG_LEVEL", "WARNING")

from rasa.core.training import load_data  # noqa: E402
from rasa.engine.graph import ExecutionContext, GraphSchema  # noqa: E402
from rasa.engine.storage.local_model_storage import LocalModelStorage  # noqa: E402
from rasa.engine.storage.resource import Resource  # noqa: E402
from rasa.shared.core.domain import Domain  # noqa: E402

from rasa_ntm_policy.dialogue import context_actions  # noqa: E402
from rasa_ntm_policy.policy import NTMPolicy  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "redp"
RESULTS = Path(__file__).resolve().parent / "results"


def repeat_chitchat(test_file: Path, repeat: int, out: Path) -> Path:
    """The test stories with each (chitchat, utter_chitchat, re-ask) repeated `repeat` times."""
    stories = []
    for story in yaml.safe_load(test_file.read_text())["stories"]:
        steps, new, i = story["steps"], [], 0
        while i < len(steps):
            if (steps[i].get("intent") == "chitchat" and i + 2 < len(steps)
                    and steps[i + 1].get("action") == "utter_chitchat"
                    and str(steps[i + 2].get("action", "")).startswith("utter_ask")):
                new += steps[i:i + 3] * repeat
                i += 3
            else:
                new.append(steps[i])
                i += 1
        if len(new) > len(steps):
            stories.append({"story": f"{story['story']} x{repeat}", "steps": new})
    out.write_text(yaml.safe_dump({"version": "3.1", "stories": stories}, sort_keys=False))
    return out


def first_wrong_turn(labels: np.ndarray, predicted: np.ndarray):
    """labels [T] (padding < 0), predicted [T] -> the first turn predicted wrong, or None."""
    wrong = np.flatnonzero((labels >= 0) & (predicted != labels))
    return int(wrong[0]) if len(wrong) else None


def first_errors(policy, trackers, domain):
    """For each test story with a wrong action: its first wrong turn, expected and predicted."""
    turns, restore, labels = policy._training_data(trackers, domain)
    labels_features = policy.dialogue_featurizer.encode_actions(domain.action_names_or_texts)
    best = policy.model.scores(turns, restore, labels_features).numpy().argmax(-1)
    states, _ = policy.featurizer.training_states_and_labels(trackers, domain)
    names = domain.action_names_or_texts
    errors = []
    for b in range(len(trackers)):
        t = first_wrong_turn(labels[b], best[b])
        if t is not None:
            state = states[b][t]
            user = state.get('user') or {}
            errors.append(f"story {b} turn {t}: intent {user.get('intent')} "
                          f"{sorted(user.get('entities') or ())}, "
                          f"previous {(state.get('prev_action') or {}).get('action_name')}, "
                          f"context {context_actions(states[b])[t]}: "
                          f"expected {names[labels[b][t]]}, predicted {names[best[b][t]]}")
    return errors


def count_correct(policy, trackers, domain):
    turns, restore, labels = policy._training_data(trackers, domain)
    labels_features = policy.dialogue_featurizer.encode_actions(domain.action_names_or_texts)
    best = policy.model.scores(turns, restore, labels_features).numpy().argmax(-1)
    valid = labels >= 0
    stories = sum(bool((best[b][valid[b]] == labels[b][valid[b]]).all())
                  for b in range(len(trackers)))
    return stories, float((best == labels)[valid].mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exclude", type=float, default=0.0, help="fraction of stories left out")
    parser.add_argument("--seed", type=int, default=0, help="which stories are left out")
    parser.add_argument("--repeat", type=int, default=8)
    parser.add_argument("--config", default="{}", help="NTMPolicy options as JSON")
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--errors", action="store_true",
                        help="print the first wrong action of each failed test story")
    args = parser.parse_args()
    data = Path(args.data)
    domain = Domain.load(str(data / "domain.yml"))
    train = load_data(str(data / "data" / "train"), domain, augmentation_factor=0)
    if args.exclude:
        keep = np.random.default_rng(args.seed).permutation(len(train))
        train = [train[i] for i in keep[:int(round(len(train) * (1 - args.exclude)))]]
    test = load_data(str(data / "data" / "test"), domain, augmentation_factor=0)
    workdir = Path(tempfile.mkdtemp())
    longer = load_data(str(repeat_chitchat(data / "data" / "test" / "simulated_hotel_test.yml",
                                           args.repeat, workdir / "longer.yml")),
                       domain, augmentation_factor=0)
    config = {**NTMPolicy.get_default_config(), **json.loads(args.config)}
    policy = NTMPolicy.create(config, LocalModelStorage(workdir), Resource("ntm"),
                              ExecutionContext(GraphSchema({}), "redp-quick"))
    start = time.perf_counter()
    policy.train(train, domain)
    seconds = time.perf_counter() - start
    result = {"exclude": args.exclude, "seed": args.seed, "train_stories": len(train),
              "train_seconds": round(seconds, 1), "config": json.loads(args.config)}
    for name, trackers in (("train", train), ("test", test), (f"test_x{args.repeat}", longer)):
        stories, actions = count_correct(policy, trackers, domain)
        result[name] = {"stories": stories, "of": len(trackers), "action_accuracy": actions}
    if args.errors:
        print("\n".join(first_errors(policy, test, domain)))
    print(json.dumps(result))
    RESULTS.mkdir(exist_ok=True)
    with open(RESULTS / "redp_quick.jsonl", "a") as f:
        f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
