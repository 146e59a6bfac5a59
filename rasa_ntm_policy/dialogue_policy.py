"""What NTMPolicy and REDPPolicy share: a Rasa policy over whole dialogues, persisted as a JSON
file (options, featurizer vocabulary) and a TensorFlow checkpoint, never pickled."""
import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Text, Tuple, Type

import numpy as np
import tensorflow as tf
from rasa.core.featurizers.single_state_featurizer import SingleStateFeaturizer
from rasa.core.featurizers.tracker_featurizers import FullDialogueTrackerFeaturizer
from rasa.core.policies.policy import Policy, SupportedData
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.core.domain import Domain
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import RasaException
import rasa.shared.utils.io

from rasa_ntm_policy.featurizer import DialogueFeaturizer

logger = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
WEIGHTS_PREFIX = "weights"
# 2: NTMPolicy's options and layers of the simplified model; models of format 1 are refused
# 3: the checkpoint holds the digest of the metadata that shapes the model (shape_digest)
FORMAT_VERSION = 3


def package_fingerprint() -> str:
    """A hash of every source file of this package: a code change invalidates Rasa's cache."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE_DIR)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def shape_digest(metadata: Dict[str, Any], architecture_options: Tuple[str, ...]) -> str:
    """sha256 of what in a policy's metadata shapes or steers the trained model: the format, the
    architecture options, the featurizer's vocabulary and the subclass's extra facts (not the
    training options, which finetuning may change). Saved inside the checkpoint, it tells a
    metadata file edited by hand from the one the weights were saved with."""
    shaping = {key: value for key, value in metadata.items() if key not in ("config", "trained")}
    shaping["architecture"] = {name: metadata["config"].get(name)
                               for name in architecture_options}
    return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()


class DialoguePolicy(Policy):
    """Base of the policies of this package. Subclasses set the class attributes and implement
    _new_model (a model with every weight built, from self.config and self.dialogue_featurizer)
    and may carry extra persisted facts (_extra_metadata / _init_arguments)."""

    METADATA_FILE: str = "policy.json"
    LOAD_ERROR: Type[RasaException] = RasaException
    ARCHITECTURE_OPTIONS: Tuple[str, ...] = ()

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        """Rasa fingerprints every component (defaults updated with the config) before it
        trains any: a bad option stops `rasa train` there, before anything has trained
        (`rasa train --force` skips the fingerprints; the policy's constructor checks again)."""
        cls.validate_config(config)
        return package_fingerprint()

    @staticmethod
    def validate_config(config: Dict[str, Any]) -> Dict[str, Any]:
        raise NotImplementedError

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 execution_context: ExecutionContext,
                 featurizer: Optional[DialogueFeaturizer] = None) -> None:
        config = self.validate_config(config)
        super().__init__(config, model_storage, resource, execution_context,
                         featurizer=FullDialogueTrackerFeaturizer(SingleStateFeaturizer()))
        self.dialogue_featurizer = featurizer
        self.model: Optional[tf.keras.Model] = None
        self.optimizer: Optional[tf.keras.optimizers.Optimizer] = None
        self._label_cache: Tuple[Tuple[str, ...], Optional[np.ndarray]] = ((), None)

    def _new_model(self) -> tf.keras.Model:
        raise NotImplementedError

    # --- training ----------------------------------------------------------------------------
    def _stories(self, training_trackers: List[TrackerWithCachedStates]
                 ) -> List[DialogueStateTracker]:
        """The trackers to train on; warns when there are none (the policy is then saved
        untrained). Rasa's augmented trackers glue random stories together: a policy that reads
        whole conversations learns nothing from those seams, so they are left out.

        Each is replayed into a plain DialogueStateTracker, whose states come from its applied
        events, as at prediction. A TrackerWithCachedStates caches one state per action
        executed, including the turns of a form's happy path, which applied_events (and so the
        labels, and the states at prediction) fold into one form action: with a form in a
        story its states and labels would be out of step."""
        trackers = SupportedData.trackers_for_supported_data(self.supported_data(),
                                                             training_trackers)
        trackers = [DialogueStateTracker.from_events(t.sender_id, t.events, t.slots.values())
                    for t in trackers if len(t.events) > 0
                    and not getattr(t, "is_augmented", False)]
        if not trackers:
            rasa.shared.utils.io.raise_warning(
                f"{type(self).__name__}: no stories to train on; the policy is saved untrained "
                f"and will predict nothing (all-zero probabilities).", category=UserWarning)
        return trackers

    def _label_features(self, domain: Domain) -> np.ndarray:
        """[A, L] label features of the domain's actions (cached per domain)."""
        names = tuple(domain.action_names_or_texts)
        if self._label_cache[0] != names:
            self._label_cache = (names, self.dialogue_featurizer.encode_actions(names))
        return self._label_cache[1]

    # --- persistence -------------------------------------------------------------------------
    def _extra_metadata(self) -> Dict[str, Any]:
        return {}

    @classmethod
    def _init_arguments(cls, metadata: Dict[str, Any]) -> Dict[str, Any]:
        """Constructor arguments (besides the featurizer) read back from _extra_metadata."""
        return {}

    def persist(self) -> None:
        with self._model_storage.write_to(self._resource) as path:
            metadata = {"format_version": FORMAT_VERSION, "config": self.config,
                        "trained": self.model is not None, **self._extra_metadata()}
            if self.model is not None:
                metadata["featurizer"] = self.dialogue_featurizer.to_dict()
                digest = tf.Variable(shape_digest(metadata, self.ARCHITECTURE_OPTIONS))
                tf.train.Checkpoint(model=self.model, shape_digest=digest).write(
                    str(Path(path) / WEIGHTS_PREFIX))
            rasa.shared.utils.io.dump_obj_as_json_to_file(Path(path) / self.METADATA_FILE,
                                                          metadata)

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "DialoguePolicy":
        try:
            with model_storage.read_from(resource) as path:
                return cls._load_from(Path(path), config, model_storage, resource,
                                      execution_context)
        except ValueError:
            # the resource does not exist: Rasa's convention is an untrained policy
            logger.debug(f"{cls.__name__}: no persisted model in resource '{resource.name}'")
            return cls(config, model_storage, resource, execution_context)

    @classmethod
    def _load_from(cls, path: Path, config: Dict[Text, Any], model_storage: ModelStorage,
                   resource: Resource, execution_context: ExecutionContext) -> "DialoguePolicy":
        metadata_file = path / cls.METADATA_FILE
        if not metadata_file.is_file():
            return cls(config, model_storage, resource, execution_context)
        try:
            metadata = json.loads(metadata_file.read_text(encoding="utf-8"))
            if metadata.get("format_version") != FORMAT_VERSION:
                raise ValueError(f"it was written in format {metadata.get('format_version')!r}, "
                                 f"this version reads format {FORMAT_VERSION}")
            # the architecture is what was trained; training options may change (finetuning)
            merged = {**metadata["config"],
                      **{k: v for k, v in config.items() if k not in cls.ARCHITECTURE_OPTIONS}}
            if not metadata["trained"]:
                return cls(merged, model_storage, resource, execution_context)
            featurizer = DialogueFeaturizer.from_dict(metadata["featurizer"])
            policy = cls(merged, model_storage, resource, execution_context,
                         featurizer=featurizer, **cls._init_arguments(metadata))
            policy.model = policy._new_model()
            saved_digest = tf.Variable("")
            tf.train.Checkpoint(model=policy.model, shape_digest=saved_digest).read(
                str(path / WEIGHTS_PREFIX)).assert_existing_objects_matched()
            if saved_digest.numpy().decode() != shape_digest(metadata, cls.ARCHITECTURE_OPTIONS):
                raise ValueError(f"{cls.METADATA_FILE} is not the one its weights were saved "
                                 "with (changed by hand?)")
        except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError,
                tf.errors.OpError, AssertionError) as error:
            raise cls.LOAD_ERROR(
                f"{cls.__name__}: the persisted model in '{path}' is broken or incompatible "
                f"({type(error).__name__}: {error}). Retrain with `rasa train`.") from error
        return policy
