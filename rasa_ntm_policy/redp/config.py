"""REDPPolicy's options: rasa_core 0.14.5 EmbeddingPolicy's names and defaults, validated.

Differences from the original's defaults: `epochs` is 2000 (the paper's setting; the original's
default of 1 trains nothing useful) and `random_seed` is 42 (reproducible by default).
`sparse_attention` (sparsemax) is not supported: TensorFlow 2 has no sparsemax op.
"""
from typing import Any, Dict

from rasa.shared.exceptions import InvalidConfigException

from rasa_ntm_policy.options import is_int, is_real, reject_unknown

DEFAULTS: Dict[str, Any] = {
    # architecture
    "hidden_layers_sizes_a": [],
    "hidden_layers_sizes_b": [],
    "rnn_size": 64,
    "layer_norm": True,
    "embed_dim": 20,
    # training
    "batch_size": [8, 32],
    "epochs": 2000,
    "random_seed": 42,
    "learning_rate": 0.001,
    # margin loss over embeddings
    "mu_pos": 0.8,
    "mu_neg": -0.2,
    "similarity_type": "cosine",
    "num_neg": 20,
    "use_max_sim_neg": True,
    # regularization
    "C2": 0.001,
    "C_emb": 0.8,
    "scale_loss_by_action_counts": True,
    "droprate_a": 0.0,
    "droprate_b": 0.0,
    "droprate_rnn": 0.1,
    # attention
    "attn_before_rnn": True,
    "attn_after_rnn": True,
    "sparse_attention": False,
    "attn_shift_range": None,  # None: half the mean training dialogue length
    # Rasa
    "priority": 1,
}

# options that shape the trained model: a loaded model keeps the ones it was trained with
ARCHITECTURE_OPTIONS = ("hidden_layers_sizes_a", "hidden_layers_sizes_b", "rnn_size",
                        "layer_norm", "embed_dim", "similarity_type", "attn_before_rnn",
                        "attn_after_rnn", "attn_shift_range")
POSITIVE_INTEGERS = ("rnn_size", "embed_dim", "epochs", "num_neg")
NON_NEGATIVE_REALS = ("C2", "C_emb")
BOOLEANS = ("layer_norm", "use_max_sim_neg", "scale_loss_by_action_counts", "attn_before_rnn",
            "attn_after_rnn", "sparse_attention")
DROPOUTS = ("droprate_a", "droprate_b", "droprate_rnn")
SIMILARITIES = ("cosine", "inner")


def _fail(option: str, message: str) -> None:
    raise InvalidConfigException(f"REDPPolicy: option '{option}' {message}")


def batch_sizes(value: Any) -> tuple:
    """batch_size as (first, last): an int n is (n, n)."""
    if is_int(value):
        return int(value), int(value)
    return int(value[0]), int(value[1])


def validate(config: Dict[str, Any]) -> Dict[str, Any]:
    """Returns the defaults updated with config; raises InvalidConfigException on a bad value."""
    reject_unknown("REDPPolicy", config, DEFAULTS)
    merged = {**DEFAULTS, **config}
    for option in POSITIVE_INTEGERS:
        if not is_int(merged[option]) or merged[option] < 1:
            _fail(option, f"must be a positive integer, got {merged[option]!r}")
    for option in NON_NEGATIVE_REALS:
        if not is_real(merged[option]) or not merged[option] >= 0:
            _fail(option, f"must be a number >= 0, got {merged[option]!r}")
    for option in ("mu_pos", "mu_neg"):
        if not is_real(merged[option]) or not -1 <= merged[option] <= 1:
            _fail(option, f"must be a number in [-1, 1], got {merged[option]!r}")
    if not is_real(merged["learning_rate"]) or not merged["learning_rate"] > 0:
        _fail("learning_rate", f"must be a positive number, got {merged['learning_rate']!r}")
    for option in BOOLEANS:
        if not isinstance(merged[option], bool):
            _fail(option, f"must be true or false, got {merged[option]!r}")
    for option in DROPOUTS:
        if not is_real(merged[option]) or not 0 <= merged[option] < 1:
            _fail(option, f"must be a number in [0, 1), got {merged[option]!r}")
    for option in ("hidden_layers_sizes_a", "hidden_layers_sizes_b"):
        sizes = merged[option]
        if not isinstance(sizes, (list, tuple)) or not all(is_int(s) and s > 0 for s in sizes):
            _fail(option, f"must be a list of positive integers, got {sizes!r}")
    size = merged["batch_size"]
    if is_int(size):
        ok = size >= 1
    else:
        ok = (isinstance(size, (list, tuple)) and len(size) == 2
              and all(is_int(s) and s >= 1 for s in size))
    if not ok:
        _fail("batch_size", f"must be a positive integer or a list [first, last], got {size!r}")
    if merged["similarity_type"] not in SIMILARITIES:
        _fail("similarity_type",
              f"must be one of {SIMILARITIES}, got {merged['similarity_type']!r}")
    if merged["sparse_attention"]:
        _fail("sparse_attention", "true (sparsemax) is not supported in TensorFlow 2; use false")
    shift = merged["attn_shift_range"]
    if shift is not None and (not is_int(shift) or shift < 0):
        _fail("attn_shift_range", f"must be an integer >= 0 or null, got {shift!r}")
    if merged["random_seed"] is not None and not is_int(merged["random_seed"]):
        _fail("random_seed", f"must be an integer or null, got {merged['random_seed']!r}")
    if not is_int(merged["priority"]):
        _fail("priority", f"must be an integer, got {merged['priority']!r}")
    return merged
