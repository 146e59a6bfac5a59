"""REDPPolicy: the Recurrent Embedding Dialogue Policy (rasa_core 0.14.5's EmbeddingPolicy) for
Rasa 3.6 and TensorFlow 2.

Use it as `- name: rasa_ntm_policy.REDPPolicy` (options: rasa_ntm_policy/redp/config.py and
docs/redp_policy.md). Like the original, its predictions are the similarities of the dialogue
embedding to every action's embedding (cosine similarities clipped at 0, not a distribution; with
`similarity_type: inner`, a softmax).
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
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import RasaException
import rasa.shared.utils.io

from rasa_ntm_policy.dialogue_policy import DialoguePolicy
from rasa_ntm_policy.featurizer import DialogueFeaturizer
from rasa_ntm_policy.padding import PAD_LABEL, bucket_length, pad_labels
from rasa_ntm_policy.redp import config as redp_config
from rasa_ntm_policy.redp.featurizer import encode
from rasa_ntm_policy.redp.model import REDPModel
from rasa_ntm_policy.redp.training import DialogueData, train_model

logger = logging.getLogger(__name__)

METADATA_FILE = "redp_policy.json"


class REDPPolicyLoadError(RasaException):
    """A persisted REDPPolicy could not be read back."""


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT,
                          is_trainable=True)
class REDPPolicy(DialoguePolicy):
    """Recurrent Embedding Dialogue Policy (Vlasov, Drissner-Schmid, Nichol 2018)."""

    METADATA_FILE = METADATA_FILE
    LOAD_ERROR = REDPPolicyLoadError
    ARCHITECTURE_OPTIONS = redp_config.ARCHITECTURE_OPTIONS

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return dict(redp_config.DEFAULTS)

    @staticmethod
    def validate_config(config: Dict[str, Any]) -> Dict[str, Any]:
        return redp_config.validate(config)

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 execution_context: ExecutionContext,
                 featurizer: Optional[DialogueFeaturizer] = None,
                 data_facts: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(config, model_storage, resource, execution_context, featurizer)
        # facts taken from the training data: mean dialogue length, resolved attn_shift_range
        self.data_facts = data_facts or {}

    # --- training ----------------------------------------------------------------------------
    def _training_data(self, trackers: List[TrackerWithCachedStates],
                       domain: Domain) -> DialogueData:
        states, actions = self.featurizer.training_states_and_labels(
            trackers, domain, ignore_action_unlikely_intent=True)
        index = {name: i for i, name in enumerate(domain.action_names_or_texts)}
        length = max(len(s) for s in states)
        labels = pad_labels([[index[a] for a in dialogue] for dialogue in actions], length)
        return DialogueData(*encode(self.dialogue_featurizer, states, length), labels)

    def _new_model(self) -> REDPModel:
        f = self.dialogue_featurizer
        model = REDPModel(f.block("intent", "entities").stop - f.block("intent", "entities").start,
                          f.block("slots", "loop").stop - f.block("slots", "loop").start,
                          f.label_size, self.config, self.data_facts["attn_shift_range"])
        model.build_all()
        return model

    def _listen_features(self) -> np.ndarray:
        return self.dialogue_featurizer.encode_actions([ACTION_LISTEN_NAME])[0]

    def train(self, training_trackers: List[TrackerWithCachedStates], domain: Domain,
              **kwargs: Any) -> Resource:
        # REDP trained on whole stories, never on Rasa's augmented (glued-together) ones
        trackers = self._stories(training_trackers)
        if not trackers:
            self.persist()
            return self._resource
        seed = self.config["random_seed"]
        if seed is not None:
            tf.keras.utils.set_random_seed(seed)
        finetuning = self.finetune_mode and self.model is not None
        if not finetuning:
            self.dialogue_featurizer = DialogueFeaturizer.from_domain(domain)
        data = self._training_data(trackers, domain)
        if not finetuning:
            lengths = (data.labels != PAD_LABEL).sum(-1)
            mean_length = float(lengths.mean())
            shift = self.config["attn_shift_range"]
            self.data_facts = {"mean_dialogue_length": mean_length,
                               "attn_shift_range": int(mean_length / 2) if shift is None
                               else int(shift)}
            self.model = self._new_model()
            # chrono initialisation: the characteristic time is the mean dialogue length
            self.model.lstm.set_chrono_bias(mean_length, seed)
            self.optimizer = None
        if self.optimizer is None:
            self.optimizer = tf.keras.optimizers.Adam(self.config["learning_rate"], epsilon=1e-16)
        logger.info(f"REDPPolicy: training on {data.labels.shape[0]} dialogues of up to "
                    f"{data.labels.shape[1]} turns for {self.config['epochs']} epochs"
                    + (" (finetuning)" if finetuning else ""))
        train_model(self.model, data, self.dialogue_featurizer.encode_actions(
            domain.action_names_or_texts), self._listen_features(), self.config, self.optimizer,
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
        length = bucket_length(len(states))
        user, slots, previous = (x[0] for x in encode(self.dialogue_featurizer, [states], length))
        prediction = self.model.predict_last(user, slots, previous, np.int32(len(states)),
                                             self._label_features(domain),
                                             self._listen_features())
        similarities = prediction.similarities.numpy()
        if self.config["similarity_type"] == "cosine":
            probabilities = np.maximum(similarities, 0.0)  # as the original: clipped cosines
        else:
            probabilities = tf.nn.softmax(similarities).numpy()
        return self._prediction(probabilities.astype(float).tolist(), diagnostic_data={
            "user_attention": prediction.user_attention.numpy()[:len(states)],
            "action_attention": prediction.action_attention.numpy()[:len(states)]})

    # --- persistence: the base class's, plus the facts taken from the training data -------
    def _extra_metadata(self) -> Dict[str, Any]:
        return {"data_facts": self.data_facts}

    @classmethod
    def _init_arguments(cls, metadata: Dict[str, Any]) -> Dict[str, Any]:
        return {"data_facts": metadata["data_facts"]}
