"""Why a trained NTMPolicy got a test story wrong: the parts of its scores at the first wrong turn.

Loads a trained model (a Rasa `.tar.gz`, e.g. one of the few-shot benchmark's
`bench/work/redp/NTMPolicy-*/p0_run1/model.tar.gz`), scores the test stories, and for each failed
story prints the first wrong turn: the expected and the predicted action, the dialogue embedding's
score of each, and each token source's gate and its part of each score (see
scoring.TokenCopy.parts).

  .venv/bin/python bench/score_parts.py bench/work/redp/NTMPolicy-3dd852fb/p0_run1/model.tar.gz
"""
import argparse
import os
import sys
from pathlib import Path
from typing import List

import numpy as np

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("LOG_LEVEL", "WARNING")

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "redp"
TEST_STORIES = DATA / "data" / "test"
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the other bench scripts


# the token sources in the order of scoring.TokenCopy.parts' gates
SOURCES = ["previous", "context", "user", "mentioned"]
SOURCE_NAMES: List[str] = SOURCES + [f"{name} exact" for name in SOURCES]


def first_wrong_turns(policy, trackers, domain) -> List[str]:
    """One report per failed story: its first wrong turn's score parts."""
    import tensorflow as tf
    from redp_quick import first_wrong_turn
    turns, restore, labels = policy._training_data(trackers, domain)
    label_features = policy.dialogue_featurizer.encode_actions(domain.action_names_or_texts)
    model = policy.model
    features = model.dialogue_features(tf.constant(turns), tf.constant(restore))
    embedding = model.embedding_scores(features, label_features).numpy()
    gates, overlap = (t.numpy() for t in model.token_copy.parts(features, label_features))
    # the model's scores (tests/policy/test_dialogue_model.py checks that they are these parts' sum)
    total = embedding + np.einsum("btk,btka->bta", gates, overlap)
    names, sources = domain.action_names_or_texts, SOURCE_NAMES
    reports = []
    for b, predicted in enumerate(total.argmax(-1)):
        t = first_wrong_turn(labels[b], predicted)
        if t is None:
            continue
        lines = [f"story {b} ({trackers[b].sender_id}), turn {t}"]
        for kind, a in (("expected", labels[b, t]), ("predicted", predicted[t])):
            parts = ", ".join(f"{name} {g * o:+.2f}" for name, g, o
                              in zip(sources, gates[b, t], overlap[b, t, :, a])
                              if abs(g * o) >= 0.005)
            lines.append(f"  {kind} {names[a]}: score {total[b, t, a]:.2f} = embedding "
                         f"{embedding[b, t, a]:.2f} + token sources ({parts or 'none'})")
        lines.append("  gates: " + ", ".join(f"{name} {g:+.2f}"
                                             for name, g in zip(sources, gates[b, t])))
        reports.append("\n".join(lines))
    return reports


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="a trained Rasa model with NTMPolicy")
    parser.add_argument("--stories", type=Path, default=TEST_STORIES)
    args = parser.parse_args(argv)
    if not args.model.is_file():
        parser.error(f"no model file at {args.model}")
    from rasa.core.agent import Agent
    from rasa.core.training import load_data
    from latency import policy_component

    agent = Agent.load(str(args.model))
    policy = policy_component(agent.processor, "NTMPolicy")
    if policy is None or policy.model is None:
        parser.error(f"{args.model} holds no trained NTMPolicy")
    trackers = load_data(str(args.stories), agent.domain, augmentation_factor=0)
    reports = first_wrong_turns(policy, trackers, agent.domain)
    print("\n".join(reports) if reports else "every test story right")
    return 0


if __name__ == "__main__":
    sys.exit(main())
