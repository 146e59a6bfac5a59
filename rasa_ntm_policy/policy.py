"""NTMPolicy: a Rasa 3.6 dialogue policy whose memory is a Neural Turing Machine.

The whole conversation is one sequence of turns (Rasa's states before each bot action); an NTM
cell steps through it, writing every turn into its memory and reading back by content and
location, and the next action is the one whose embedding is most similar to the dialogue's.
The options are in config.py (and README.md); how it works is docs/ntm_policy.md.
"""
import contextlib
import logging
from typing import Any, Dict, List, Optional, Text

import numpy as np
import tensorflow as tf
from rasa.core.policies.policy import PolicyPrediction, SupportedData
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.core.domain import Domain
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import RasaException
import rasa.shared.utils.io

from rasa_ntm_policy import config as policy_config
from rasa_ntm_policy.conversation_cache import ConversationCache, MemoryRun, StateOptions
from rasa_ntm_policy.dialogue import NO_RESTORE, restore_indices
from rasa_ntm_policy.devices import training_strategy
from rasa_ntm_policy.dialogue_policy import DialoguePolicy, package_fingerprint  # noqa: F401
from rasa_ntm_policy.featurizer import DialogueFeaturizer
from rasa_ntm_policy.model import NTMDialogueModel
from rasa_ntm_policy.padding import bucket_length, pad_labels
from rasa_ntm_policy.training import train_model

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
    _conversations: Optional[ConversationCache] = None  # set on the first prediction
    _strategy: Optional[tf.distribute.Strategy] = None  # the devices the model was built for

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
        turns = self.dialogue_featurizer.encode_dialogues(states, length)
        restore = np.full([len(states), length], NO_RESTORE, np.int32)
        for b, dialogue in enumerate(states):
            restore[b, :len(dialogue)] = self._restore_indices(dialogue[:length])
        return turns, restore, pad_labels(labels, length)

    def _restore_indices(self, states) -> np.ndarray:
        """[T] the digression restores of one dialogue (none with restore_digressions off)."""
        if self.config["restore_digressions"]:
            return restore_indices(states)
        return np.full([len(states)], NO_RESTORE, np.int32)

    def _strategy_scope(self):
        return self._strategy.scope() if self._strategy is not None else contextlib.nullcontext()

    def _new_model(self) -> NTMDialogueModel:
        c = self.config
        model = NTMDialogueModel(self.dialogue_featurizer.token_sources(),
                                 memory_slots=c["memory_slots"], memory_width=c["memory_width"],
                                 read_heads=c["read_heads"],
                                 controller_units=c["controller_units"],
                                 embedding_dimension=c["embedding_dimension"],
                                 dropout=c["dropout"])
        model.build_all()
        return model

    def train(self, training_trackers: List[TrackerWithCachedStates], domain: Domain,
              **kwargs: Any) -> Resource:
        trackers = self._stories(training_trackers)
        if not trackers:
            self.persist()
            return self._resource
        seed = self.config["random_seed"]
        if seed is not None:
            tf.keras.utils.set_random_seed(seed)
        finetuning = self.finetune_mode and self.model is not None
        if not finetuning:
            # several devices: the model's weights mirrored on each (devices.py); a model
            # loaded to finetune trains where it was loaded
            self._strategy = training_strategy()
            self.dialogue_featurizer = DialogueFeaturizer.from_domain(domain, context_action=True)
            with self._strategy_scope():
                self.model = self._new_model()
            self.optimizer = None
        if self.optimizer is None:
            with self._strategy_scope():
                self.optimizer = tf.keras.optimizers.Adam(self.config["learning_rate"])
        turns, restore, labels = self._training_data(trackers, domain)
        label_features = self.dialogue_featurizer.encode_actions(domain.action_names_or_texts)
        logger.info(f"NTMPolicy: training on {turns.shape[0]} dialogues of up to "
                    f"{turns.shape[1]} turns for {self.config['epochs']} epochs"
                    + (" (finetuning)" if finetuning else ""))
        if self._strategy is not None:
            logger.info(f"NTMPolicy: training on {self._strategy.num_replicas_in_sync} devices")
        train_model(self.model, turns, restore, labels, label_features, self.config,
                    self.optimizer,
                    show_progress=not rasa.shared.utils.io.is_logging_disabled(),
                    strategy=self._strategy)
        self._conversations = None  # its memory rows are the old weights'
        self.persist()
        return self._resource

    # --- prediction --------------------------------------------------------------------------
    def predict_action_probabilities(self, tracker: DialogueStateTracker, domain: Domain,
                                     rule_only_data: Optional[Dict[Text, Any]] = None,
                                     **kwargs: Any) -> PolicyPrediction:
        if self.model is None:
            return self._prediction(self._default_predictions(domain))
        labels = self._label_features(domain)
        prediction = self._conversation_cache().predict(
            tracker, domain, rule_only_data, lambda run: self._run_memory(run, labels))
        probabilities = prediction.probabilities.numpy().astype(float).tolist()
        return self._prediction(probabilities, diagnostic_data={
            "read_weights": prediction.read_weights.numpy(),
            "write_weights": prediction.write_weights.numpy()})

    def _run_memory(self, run: MemoryRun, labels: np.ndarray):
        """The model's prediction on a conversation's MemoryRun, and the rows it asks to keep
        (each input padded to a bucket length: few programs are compiled)."""
        count = len(run.features)
        features = np.zeros([bucket_length(count), run.features.shape[1]], np.float32)
        features[:count] = run.features
        restore = np.full([len(features)], NO_RESTORE, np.int32)
        restore[:count] = run.restore
        # saved and kept rows padded to one bucket size: fewer programs to compile
        saved_count = 0 if run.saved is None else len(run.saved.outputs)
        rows = bucket_length(max(saved_count, len(run.keep)), smallest=4)
        recurrence = self.model.recurrence
        saved = recurrence.empty_rows(0)
        if run.saved is not None:
            saved = tf.nest.map_structure(lambda a, b: np.concatenate([a, b]), run.saved,
                                          recurrence.empty_rows(rows - saved_count))
        offset = len(saved.outputs) - saved_count  # the turns' rows move up by the padding
        restore[:count] = np.where(run.restore >= saved_count, run.restore + offset,
                                   run.restore)
        keep = np.zeros([rows], np.int32)
        keep[:len(run.keep)] = run.keep + offset
        prediction = self.model.predict(features, restore, count, labels, saved, run.start,
                                        keep)
        kept = tf.nest.map_structure(lambda rows: rows.numpy()[:len(run.keep)], prediction.kept)
        return prediction, kept

    def _conversation_cache(self) -> ConversationCache:
        """The per-conversation cache of this model's featurizer (conversation_cache.py)."""
        if self._conversations is None or (self._conversations.featurizer
                                           is not self.dialogue_featurizer):
            ml_data = self.supported_data() == SupportedData.ML_DATA
            self._conversations = ConversationCache(
                self.dialogue_featurizer, self.config["restore_digressions"],
                StateOptions(ignore_rule_only_turns=ml_data,
                             ignore_action_unlikely_intent=ml_data))
        return self._conversations
