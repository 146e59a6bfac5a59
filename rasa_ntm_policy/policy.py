"""NTMPolicy: a Rasa 3.6 dialogue policy whose memory is a Neural Turing Machine.

The whole conversation is one sequence of turns (Rasa's states before each bot action); an NTM
cell steps through it, writing every turn into its memory and reading back by content and
location, and the next action is the one whose embedding is most similar to the dialogue's.
See README.md for the options.
"""
import logging
from typing import Any, Dict, List, Optional, Text

import numpy as np
import tensorflow as tf
from rasa.core.policies.policy import PolicyPrediction
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
from rasa_ntm_policy.dialogue_policy import DialoguePolicy, package_fingerprint  # noqa: F401
from rasa_ntm_policy.featurizer import (NO_RESTORE, DialogueFeaturizer, folded_turns,
                                        restore_indices)
from rasa_ntm_policy.model import NTMDialogueModel, bucket_length
from rasa_ntm_policy.training import pad_labels, train_model

logger = logging.getLogger(__name__)

METADATA_FILE = "ntm_policy.json"


class NTMPolicyLoadError(RasaException):
    """A persisted NTMPolicy could not be read back."""


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT,
                          is_trainable=True)
class NTMPolicy(DialoguePolicy):
    """A dialogue policy with a Neural Turing Machine memory over the whole conversation."""

    METADATA_FILE = METADATA_FILE
    LOAD_ERROR = NTMPolicyLoadError
    ARCHITECTURE_OPTIONS = policy_config.ARCHITECTURE_OPTIONS
    OPTIONS_BEFORE_THEY_EXISTED = policy_config.OPTIONS_BEFORE_THEY_EXISTED

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return dict(policy_config.DEFAULTS)

    @staticmethod
    def validate_config(config: Dict[str, Any]) -> Dict[str, Any]:
        return policy_config.validate(config)

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
                                 self.dialogue_featurizer.label_size, self.config,
                                 self.dialogue_featurizer.token_sources())
        model.build_all()
        return model

    def train(self, training_trackers: List[TrackerWithCachedStates], domain: Domain,
              **kwargs: Any) -> Resource:
        trackers = self._stories(training_trackers, self.config["use_augmented_trackers"])
        if not trackers:
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
