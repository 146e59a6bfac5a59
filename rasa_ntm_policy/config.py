"""NTMPolicy's options: defaults, and validation that names the offending option."""
from typing import Any, Dict

from rasa.shared.exceptions import InvalidConfigException

from rasa_ntm_policy.options import is_int, is_real, reject_unknown

DEFAULTS: Dict[str, Any] = {
    # memory
    "memory_slots": 64,
    "memory_width": 20,
    "read_heads": 2,
    "write_heads": 1,
    "shift_range": 1,
    # controller and embeddings
    "controller": "dense",
    "controller_units": 64,
    "embedding_dimension": 20,
    "label_hidden_units": 0,
    "clip_value": 20.0,
    "dropout": 0.2,
    "similarity_scale": 10.0,
    "skip_turn_features": True,
    "l2_regularization": 0.0,
    "sequential_writes": False,
    "copy_mechanism": True,
    "restore_digressions": True,
    "name_ids": False,
    "context_action": True,
    "token_copy": True,
    "mentioned_tokens": True,
    "token_copy_exact": True,
    "exact_copy_only_adds": True,
    "token_idf": True,
    "use_augmented_trackers": False,
    # training
    "epochs": 200,
    "batch_size": 8,
    "learning_rate": 0.003,
    "gradient_clip_norm": 10.0,
    "weight_averaging": 0.25,
    "random_seed": 42,
    # Rasa's own keys
    "priority": 1,
}

POSITIVE_INTEGERS = ("memory_slots", "memory_width", "read_heads", "write_heads",
                     "controller_units", "embedding_dimension", "epochs",
                     "batch_size")
POSITIVE_REALS = ("clip_value", "learning_rate", "gradient_clip_norm")
NON_NEGATIVE_REALS = ("similarity_scale", "l2_regularization")
BOOLEANS = ("skip_turn_features", "sequential_writes", "copy_mechanism", "restore_digressions",
            "name_ids", "use_augmented_trackers", "context_action",
            "token_copy", "mentioned_tokens", "token_copy_exact", "exact_copy_only_adds",
            "token_idf")
# options that shape the trained model: a loaded model keeps the ones it was trained with
ARCHITECTURE_OPTIONS = ("memory_slots", "memory_width", "read_heads", "write_heads",
                        "shift_range", "controller", "controller_units", "embedding_dimension",
                        "label_hidden_units", "clip_value", "similarity_scale",
                        "skip_turn_features", "sequential_writes", "copy_mechanism",
                        "restore_digressions", "name_ids", "context_action",
                        "token_copy", "mentioned_tokens", "token_copy_exact",
                        "exact_copy_only_adds", "token_idf")
# a model persisted before these options existed was trained without them
OPTIONS_BEFORE_THEY_EXISTED = {"token_copy": False, "mentioned_tokens": False,
                               "token_copy_exact": False, "exact_copy_only_adds": False,
                               "token_idf": False}
CONTROLLERS = ("lstm", "dense")


def _fail(option: str, message: str) -> None:
    raise InvalidConfigException(f"NTMPolicy: option '{option}' {message}")


def validate(config: Dict[str, Any]) -> Dict[str, Any]:
    """Returns the defaults updated with config; raises InvalidConfigException on a bad value."""
    reject_unknown("NTMPolicy", config, DEFAULTS)
    merged = {**DEFAULTS, **config}
    for option in POSITIVE_INTEGERS:
        if not is_int(merged[option]) or merged[option] < 1:
            _fail(option, f"must be a positive integer, got {merged[option]!r}")
    for option in POSITIVE_REALS:
        value = merged[option]
        if not is_real(value) or not value > 0:
            _fail(option, f"must be a positive number, got {value!r}")
    for option in NON_NEGATIVE_REALS:
        value = merged[option]
        if not is_real(value) or not value >= 0:
            _fail(option, f"must be a number >= 0, got {value!r}")
    for option in BOOLEANS:
        if not isinstance(merged[option], bool):
            _fail(option, f"must be true or false, got {merged[option]!r}")
    if not is_int(merged["priority"]):
        _fail("priority", f"must be an integer, got {merged['priority']!r}")
    if not is_int(merged["label_hidden_units"]) or merged["label_hidden_units"] < 0:
        _fail("label_hidden_units", f"must be an integer >= 0, got {merged['label_hidden_units']!r}")
    if not is_int(merged["shift_range"]) or merged["shift_range"] < 0:
        _fail("shift_range", f"must be an integer >= 0, got {merged['shift_range']!r}")
    if 2 * merged["shift_range"] + 1 > merged["memory_slots"]:
        _fail("shift_range", f"{merged['shift_range']} does not fit memory_slots "
                             f"{merged['memory_slots']} (needs 2 * shift_range + 1 <= memory_slots)")
    if merged["controller"] not in CONTROLLERS:
        _fail("controller", f"must be one of {CONTROLLERS}, got {merged['controller']!r}")
    dropout = merged["dropout"]
    if not is_real(dropout) or not 0 <= dropout < 1:
        _fail("dropout", f"must be a number in [0, 1), got {dropout!r}")
    averaging = merged["weight_averaging"]
    if not is_real(averaging) or not 0 <= averaging <= 1:
        _fail("weight_averaging", f"must be a number in [0, 1], got {averaging!r}")
    if merged["random_seed"] is not None and not is_int(merged["random_seed"]):
        _fail("random_seed", f"must be an integer or null, got {merged['random_seed']!r}")
    return merged
