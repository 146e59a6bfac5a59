"""See the memory: NTMPolicy's read and write weightings and its top actions, turn by turn.

    python -m rasa_ntm_policy.inspect MODEL CONVERSATION [--out memory.png] [--story NAME]

MODEL is a model archive trained with NTMPolicy (`rasa train`). CONVERSATION is either a story
file (Rasa YAML; the first story, or the one --story names) or a conversation id, read from the
tracker store of --endpoints (endpoints.yml). At every bot action of the conversation the
policy predicts from the conversation so far (as Rasa folds it: a form's happy path is one
form action), and the tool prints one line per prediction (the action taken, the policy's top
three actions, the memory slots read and written most) and draws the same as a PNG: the write
and read weightings over the memory slots (heads averaged) and the probability of each top
action.
"""
import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from typing import List, NamedTuple, Optional, Sequence, Tuple

import numpy as np


class TurnView(NamedTuple):
    """What the policy did before one bot action."""

    event: str  # the user message (or action) just before, for the reader
    action: str  # the action the conversation took
    top: List[Tuple[str, float]]  # the policy's three most probable actions
    read_weights: np.ndarray  # [N] averaged over the read heads
    write_weights: np.ndarray  # [N] averaged over the write heads


def load_ntm_policy(model: Path, storage_dir: Path):
    """(NTMPolicy, domain) from a model archive; ValueError if it has no NTMPolicy."""
    from rasa.engine.graph import ExecutionContext
    from rasa.engine.storage.local_model_storage import LocalModelStorage

    from rasa_ntm_policy.policy import NTMPolicy

    storage, metadata = LocalModelStorage.from_model_archive(storage_dir, model)
    for node in metadata.predict_schema.nodes.values():
        if node.uses is NTMPolicy:
            context = ExecutionContext(metadata.predict_schema, metadata.model_id)
            config = {**NTMPolicy.get_default_config(), **node.config}
            return NTMPolicy.load(config, storage, node.resource, context), metadata.domain
    raise ValueError(f"{model} has no NTMPolicy: train it with rasa_ntm_policy.NTMPolicy in "
                     f"the policies of config.yml")


def story_tracker(path: Path, domain, name: Optional[str] = None):
    """The tracker of the first story in path (or of the one called name)."""
    from rasa.core.training import load_data

    trackers = [t for t in load_data(str(path), domain, augmentation_factor=0)
                if not getattr(t, "is_augmented", False)]
    if name is not None:
        trackers = [t for t in trackers if t.sender_id == name]
    if not trackers:
        raise ValueError(f"{path} has no story" + (f" called {name!r}" if name else ""))
    return trackers[0]


def stored_tracker(sender_id: str, endpoints: Path, domain):
    """The conversation sender_id from the tracker store of endpoints.yml."""
    from rasa.core.tracker_store import TrackerStore
    from rasa.core.utils import read_endpoints_from_path

    config = read_endpoints_from_path(str(endpoints)).tracker_store
    store = TrackerStore.create(config, domain)
    tracker = asyncio.run(store.retrieve(sender_id))
    if tracker is None or not tracker.events:
        raise ValueError(f"the tracker store of {endpoints} has no conversation {sender_id!r}")
    return tracker


def views(policy, domain, tracker) -> List[TurnView]:
    """One TurnView per bot action of tracker (after its first event)."""
    from rasa.shared.core.events import ActionExecuted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    events = list(tracker.applied_events())
    actions = domain.action_names_or_texts
    found, last_event = [], ""
    for i, event in enumerate(events):
        if isinstance(event, UserUttered):
            last_event = f"user: {event.text or ''} ({event.intent_name})"
        if not isinstance(event, ActionExecuted) or i == 0:
            continue
        prefix = DialogueStateTracker.from_events(tracker.sender_id, events[:i],
                                                  slots=domain.slots)
        prediction = policy.predict_action_probabilities(prefix, domain)
        probabilities = np.asarray(prediction.probabilities)
        top = [(actions[j], float(probabilities[j])) for j in np.argsort(-probabilities)[:3]]
        data = prediction.diagnostic_data
        found.append(TurnView(last_event, event.action_name or event.action_text or "", top,
                              np.asarray(data["read_weights"]).mean(0),
                              np.asarray(data["write_weights"]).mean(0)))
        last_event = f"bot: {event.action_name}"
    return found


def text_report(turns: Sequence[TurnView]) -> str:
    lines = [f"{'#':>3}  {'before':<40} {'action taken':<32} {'NTMPolicy top 3':<60} "
             f"{'read':>5} {'write':>5}"]
    for index, turn in enumerate(turns):
        top = ", ".join(f"{name} {p:.2f}" for name, p in turn.top)
        mark = " " if turn.top[0][0] == turn.action else "*"
        lines.append(f"{index:>3}{mark} {turn.event[:40]:<40} {turn.action[:32]:<32} "
                     f"{top[:60]:<60} {int(turn.read_weights.argmax()):>5} "
                     f"{int(turn.write_weights.argmax()):>5}")
    lines.append("(* the policy's top action is not the one taken; read/write: the memory slot "
                 "weighted most)")
    return "\n".join(lines)


def draw(turns: Sequence[TurnView], path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    writes = np.stack([t.write_weights for t in turns], 1)  # [N, turns]
    reads = np.stack([t.read_weights for t in turns], 1)
    # only the slots the conversation used (weight >= 0.02 at some turn), in slot order
    used = np.flatnonzero(np.maximum(writes, reads).max(1) >= 0.02)
    used = used if used.size else np.arange(writes.shape[0])
    figure, axes = plt.subplots(3, 1, figsize=(max(8.0, 0.45 * len(turns) + 3),
                                               min(12.0, 4.0 + 0.25 * used.size)),
                                sharex=True, gridspec_kw={"height_ratios": [3, 3, 2]})
    for axis, weights, name in ((axes[0], writes, "write"), (axes[1], reads, "read")):
        image = axis.imshow(weights[used], aspect="auto", cmap="viridis", vmin=0, vmax=1,
                            interpolation="nearest")
        axis.set_yticks(range(used.size))
        axis.set_yticklabels([str(slot) for slot in used], fontsize=7)
        axis.set_ylabel(f"memory slot\n({name} weight)")
        figure.colorbar(image, ax=axis, pad=0.01)
    axes[2].bar(range(len(turns)), [t.top[0][1] for t in turns],
                color=["tab:green" if t.top[0][0] == t.action else "tab:red" for t in turns])
    axes[2].set_ylim(0, 1)
    axes[2].set_ylabel("top action\nprobability")
    axes[2].set_xticks(range(len(turns)))
    axes[2].set_xticklabels([t.action for t in turns], rotation=70, ha="right", fontsize=7)
    axes[0].set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rasa_ntm_policy.inspect",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("model", type=Path, help="a model archive (.tar.gz) with NTMPolicy")
    parser.add_argument("conversation",
                        help="a story file, or a conversation id in the tracker store")
    parser.add_argument("--story", help="the story's name, where the file has several")
    parser.add_argument("--endpoints", type=Path, default=Path("endpoints.yml"),
                        help="where the tracker store is configured (for a conversation id)")
    parser.add_argument("--out", type=Path, default=Path("memory.png"), help="the PNG to write")
    args = parser.parse_args(argv)
    if not args.model.is_file():
        parser.error(f"no model archive at {args.model}")
    try:
        with tempfile.TemporaryDirectory() as storage_dir:
            policy, domain = load_ntm_policy(args.model, Path(storage_dir))
            source = Path(args.conversation)
            if source.suffix in (".yml", ".yaml") and source.is_file():
                tracker = story_tracker(source, domain, args.story)
            else:
                tracker = stored_tracker(args.conversation, args.endpoints, domain)
            turns = views(policy, domain, tracker)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not turns:
        print("error: the conversation has no bot action to show", file=sys.stderr)
        return 2
    print(text_report(turns))
    draw(turns, args.out, f"NTMPolicy's memory: {tracker.sender_id}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
