"""NTMPolicy's options: each one's default and meaning, and validation that names the option.

These are all the options there are; what the model does beyond them (one write head, shifts of
one slot, the copy of past actions, the token copy, ...) is its design, described in
docs/ntm_policy.md, not a switch. README.md's options table is options_table(), checked by a test.
"""
from typing import Any, Callable, Dict, NamedTuple

from rasa.shared.exceptions import InvalidConfigException

from rasa_ntm_policy.options import is_int, is_real, reject_unknown


class Option(NamedTuple):
    default: Any
    meaning: str
    check: Callable[[Any], bool]
    expected: str  # what check accepts, for the error message


def _positive_int(value: Any) -> bool:
    return is_int(value) and value >= 1


def _positive_real(value: Any) -> bool:
    return is_real(value) and value > 0


def _fraction(value: Any) -> bool:
    return is_real(value) and 0 <= value < 1


def _bool(value: Any) -> bool:
    return isinstance(value, bool)


def _seed(value: Any) -> bool:
    return value is None or is_int(value)


def _integer(value: Any) -> bool:
    return is_int(value)


POSITIVE_INTEGER = "a positive integer"
OPTIONS: Dict[str, Option] = {
    # the memory
    "memory_slots": Option(64, "Number of memory slots N: how many turns the memory can hold "
                               "apart.", _positive_int, POSITIVE_INTEGER),
    "memory_width": Option(20, "Learnt width of a slot (each slot also keeps the previous bot "
                               "action of the turn it was written at).",
                           _positive_int, POSITIVE_INTEGER),
    "read_heads": Option(2, "Read heads: how many places of the memory each turn reads back.",
                         _positive_int, POSITIVE_INTEGER),
    "controller_units": Option(64, "Size of the controller, the layer that reads each turn and "
                                   "drives the heads.", _positive_int, POSITIVE_INTEGER),
    "embedding_dimension": Option(20, "Size of the dialogue and action embeddings that are "
                                      "compared to score each action.",
                                  _positive_int, POSITIVE_INTEGER),
    "restore_digressions": Option(True, "After a digression (the bot repeats an action with the "
                                        "same slots and no new entity type since), the memory "
                                        "returns to its state before it. Set false if repeated "
                                        "actions in your bot are not digressions.",
                                  _bool, "true or false"),
    # training
    "epochs": Option(200, "Passes over the training stories; from 200 stories on, at most: a "
                          "tenth is held back and training stops once their accuracy stops "
                          "improving.", _positive_int, POSITIVE_INTEGER),
    "batch_size": Option(8, "Stories per training step.", _positive_int, POSITIVE_INTEGER),
    "learning_rate": Option(0.003, "Adam's learning rate.", _positive_real, "a positive number"),
    "dropout": Option(0.2, "Fraction of the turn features dropped at random from the memory's "
                          "input in training.",
                      _fraction, "a number in [0, 1)"),
    "random_seed": Option(42, "Seed of the weights, the batch order and the dropout (null: a "
                              "different model each time).", _seed, "an integer or null"),
    # Rasa's own
    "priority": Option(1, "Rasa's policy priority: which policy wins a tie.", _integer,
                       "an integer"),
}
DEFAULTS: Dict[str, Any] = {name: option.default for name, option in OPTIONS.items()}
# options that shape the trained model: a loaded model keeps the ones it was trained with
ARCHITECTURE_OPTIONS = ("memory_slots", "memory_width", "read_heads", "controller_units",
                        "embedding_dimension", "restore_digressions")


def validate(config: Dict[str, Any]) -> Dict[str, Any]:
    """Returns the defaults updated with config; raises InvalidConfigException on a bad value."""
    reject_unknown("NTMPolicy", config, DEFAULTS)
    merged = {**DEFAULTS, **config}
    for name, option in OPTIONS.items():
        if not option.check(merged[name]):
            raise InvalidConfigException(
                f"NTMPolicy: option '{name}' must be {option.expected}, got {merged[name]!r}")
    return merged


def _yaml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


def options_table() -> str:
    """The options as the markdown table README.md shows."""
    lines = ["| option | default | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{name}` | `{_yaml_value(option.default)}` | {option.meaning} |"
              for name, option in OPTIONS.items()]
    return "\n".join(lines) + "\n"
