"""NTMPolicy: a Rasa 3.6 dialogue policy whose memory is a Neural Turing Machine.

The whole conversation is one sequence of turns (Rasa's states before each bot action); an NTM
cell steps through it, writing every turn into its memory and reading back by content and
location, and the next action is the one whose embedding is most similar to the dialogue's.
See README.md for the options.
"""
import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Text, Tuple

import numpy as np
import tensorflow as tf
from rasa.core.featurizers.single_state_featurizer import SingleStateFeaturizer
from rasa.core.featurizers.tracker_featurizers import FullDialogueTrackerFeaturizer
from rasa.core.policies.policy import Policy, PolicyPrediction, SupportedData
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.core.domain import Domain
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import RasaException
import rasa.shared.utils.io

from rasa_ntm_policy import config as policy_config
from rasa_ntm_policy.featurizer import (NO_RESTORE, DialogueFeaturizer, folded_turns,
                                        restore_indices)
from rasa_ntm_policy.model import NTMDialogueModel, bucket_length
from rasa_ntm_policy.training import pad_labels, train_model

logger = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
METADATA_FILE = "ntm_policy.json"
WEIGHTS_PREFIX = "weights"
FORMAT_VERSION = 1


class NTMPolicyLoadError(RasaException):
    """A persisted NTMPolicy could not be read back."""


def package_fingerprint() -> str:
    """A hash of every source file of this package: a code change invalidates Rasa's cache."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE_DIR)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT,
                          is_trainable=True)
class NTMPolicy(Policy):
    """A dialogue policy with a Neural Turing Machine memory over the whole conversation."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return dict(policy_config.DEFAULTS)

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        return package_fingerprint()

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 execution_context: ExecutionContext,
                 featurizer: Optional[DialogueFeaturizer] = None) -> None:
        config = policy_config.validate(config)
        super().__init__(config, model_storage, resource, execution_context,
                         featurizer=FullDialogueTrackerFeaturizer(SingleStateFeaturizer()))
        self.dialogue_featurizer = featurizer
        self.model: Optional[NTMDialogueModel] = None
        self._label_cache: Tuple[Tuple[str, ...], Optional[np.ndarray]] = ((), None)
        self.optimizer: Optional[tf.keras.optimizers.Optimizer] = None

    # --- training ----------------------------------------------------------------------------
    def _training_data(self, trackers: List[TrackerWithCachedStates], domain: Domain):
        states, actions = self.featurizer.training_states_and_labels(
            trackers, domain, ignore_action_unlikely_intent=True)
        index = {name: i for i, name in enumerate(domain.action_names_or_texts)}
        labels = [[index[a] for a in dialogue] for dialogue in actions]
        length = max(len(s) for s in states)
        turns, restore = self.dialogue_featurizer.encode_dialogues(states, length)
        if not self.config["restore_digressions"]:
            restore[:] = NO_RESTORE
        return turns, restore, pad_labels(labels, length)

    def _new_model(self) -> NTMDialogueModel:
        model = NTMDialogueModel(self.dialogue_featurizer.turn_size,
                                 self.dialogue_featurizer.label_size, self.config)
        model.build_all()
        return model

    def train(self, training_trackers: List[TrackerWithCachedStates], domain: Domain,
              **kwargs: Any) -> Resource:
        trackers = SupportedData.trackers_for_supported_data(self.supported_data(),
                                                             training_trackers)
        if not self.config["use_augmented_trackers"]:
            # Rasa's augmentation glues random stories together; a policy that reads whole
            # conversations learns nothing from those seams (REDP also trained without them)
            trackers = [t for t in trackers if not getattr(t, "is_augmented", False)]
        trackers = [t for t in trackers if len(t.events) > 0]
        if not trackers:
            rasa.shared.utils.io.raise_warning(
                "NTMPolicy: no stories to train on; the policy is saved untrained and will "
                "predict nothing (all-zero probabilities).", category=UserWarning)
            self.persist()
            return self._resource
        seed = self.config["random_seed"]
        if seed is not None:
            tf.keras.utils.set_random_seed(seed)
        finetuning = self.finetune_mode and self.model is not None
        if not finetuning:
            self.dialogue_featurizer = DialogueFeaturizer.from_domain(
                domain, name_ids=self.config["name_ids"],
                context_action=self.config["context_action"])
            self.model = self._new_model()
            self.optimizer = None
        if self.optimizer is None:
            self.optimizer = tf.keras.optimizers.Adam(self.config["learning_rate"])
        turns, restore, labels = self._training_data(trackers, domain)
        label_features = self.dialogue_featurizer.encode_actions(domain.action_names_or_texts)
        logger.info(f"NTMPolicy: training on {turns.shape[0]} dialogues of up to "
                    f"{turns.shape[1]} turns for {self.config['epochs']} epochs"
                    + (" (finetuning)" if finetuning else ""))
        train_model(self.model, turns, restore, labels, label_features, self.config,
                    self.optimizer,
                    show_progress=not rasa.shared.utils.io.is_logging_disabled())
        self.persist()
        return self._resource

    # --- prediction --------------------------------------------------------------------------
    def _label_features(self, domain: Domain) -> np.ndarray:
        names = tuple(domain.action_names_or_texts)
        if self._label_cache[0] != names:
            self._label_cache = (names, self.dialogue_featurizer.encode_actions(names))
        return self._label_cache[1]

    def predict_action_probabilities(self, tracker: DialogueStateTracker, domain: Domain,
                                     rule_only_data: Optional[Dict[Text, Any]] = None,
                                     **kwargs: Any) -> PolicyPrediction:
        if self.model is None:
            return self._prediction(self._default_predictions(domain))
        states = self._prediction_states(tracker, domain, rule_only_data=rule_only_data) or [{}]
        if self.config["restore_digressions"]:
            path = folded_turns(restore_indices(states))
        else:
            path = np.arange(len(states))
        # only the turns the memory runs over (and the last one) are featurized
        turns = self.dialogue_featurizer.encode_dialogue(states, list(path) + [len(states) - 1])
        padded = np.zeros([bucket_length(len(path)), turns.shape[1]], np.float32)
        padded[:len(path)] = turns[:-1]
        prediction = self.model.predict_last(padded, np.int32(len(path)), turns[-1],
                                             self._label_features(domain))
        probabilities = prediction.probabilities.numpy().astype(float).tolist()
        return self._prediction(probabilities, diagnostic_data={
            "read_weights": prediction.read_weights.numpy(),
            "write_weights": prediction.write_weights.numpy()})

    # --- persistence (JSON + TensorFlow checkpoint; nothing is pickled) ----------------------
    def persist(self) -> None:
        with self._model_storage.write_to(self._resource) as path:
            metadata = {"format_version": FORMAT_VERSION, "config": self.config,
                        "trained": self.model is not None}
            if self.model is not None:
                metadata["featurizer"] = self.dialogue_featurizer.to_dict()
                tf.train.Checkpoint(model=self.model).write(str(Path(path) / WEIGHTS_PREFIX))
            rasa.shared.utils.io.dump_obj_as_json_to_file(Path(path) / METADATA_FILE, metadata)

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "NTMPolicy":
        try:
            with model_storage.read_from(resource) as path:
                return cls._load_from(Path(path), config, model_storage, resource,
                                      execution_context)
        except ValueError:
            # the resource does not exist: Rasa's convention is an untrained policy
            logger.debug(f"NTMPolicy: no persisted model in resource '{resource.name}'")
            return cls(config, model_storage, resource, execution_context)

    @classmethod
    def _load_from(cls, path: Path, config: Dict[Text, Any], model_storage: ModelStorage,
                   resource: Resource, execution_context: ExecutionContext) -> "NTMPolicy":
        metadata_file = path / METADATA_FILE
        if not metadata_file.is_file():
            return cls(config, model_storage, resource, execution_context)
        try:
            metadata = json.loads(metadata_file.read_text(encoding="utf-8"))
            if metadata.get("format_version") != FORMAT_VERSION:
                raise ValueError(f"unsupported format version {metadata.get('format_version')!r}")
            saved = metadata["config"]
            # the architecture is what was trained; training options may change (finetuning)
            merged = {**saved, **{k: v for k, v in config.items()
                                  if k not in policy_config.ARCHITECTURE_OPTIONS}}
            if not metadata["trained"]:
                return cls(merged, model_storage, resource, execution_context)
            featurizer = DialogueFeaturizer.from_dict(metadata["featurizer"])
            policy = cls(merged, model_storage, resource, execution_context, featurizer=featurizer)
            policy.model = policy._new_model()
            tf.train.Checkpoint(model=policy.model).read(
                str(path / WEIGHTS_PREFIX)).assert_existing_objects_matched()
        except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError,
                tf.errors.OpError, AssertionError) as error:
            raise NTMPolicyLoadError(
                f"NTMPolicy: the persisted model in '{path}' is broken or incompatible "
                f"({type(error).__name__}: {error}). Retrain with `rasa train`.") from error
        return policy

