"""Checks shared by the policies' option validation (config.py, redp/config.py)."""
from numbers import Integral, Real
from typing import Any, Dict, Iterable

from rasa.shared.exceptions import InvalidConfigException

# keys Rasa itself may add to a policy's config
RASA_KEYS = {"finetuning_epoch_fraction", "name"}


def is_int(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def reject_unknown(policy: str, config: Dict[str, Any], known: Iterable[str]) -> None:
    """Raises InvalidConfigException naming the options neither the policy nor Rasa knows."""
    known = set(known)
    unknown = sorted(set(config) - known - RASA_KEYS)
    if unknown:
        raise InvalidConfigException(
            f"{policy}: unknown option(s) {', '.join(repr(k) for k in unknown)}; "
            f"known options are {', '.join(sorted(known))}")
