"""Building Rasa domains, trackers and policies for the tests, without the CLI."""
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from rasa.core.training import load_data
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted
from rasa.shared.core.trackers import DialogueStateTracker


def write_yaml(directory: Path, name: str, text: str) -> Path:
    path = Path(directory) / name
    path.write_text(text, encoding="utf-8")
    return path


def load_trackers(stories_yaml: str, domain: Domain, directory: Path) -> list:
    path = write_yaml(directory, f"stories_{abs(hash(stories_yaml))}.yml", stories_yaml)
    return load_data(str(path), domain, augmentation_factor=0)


def new_storage(directory: Optional[Path] = None) -> LocalModelStorage:
    path = Path(directory or tempfile.mkdtemp())
    path.mkdir(parents=True, exist_ok=True)
    return LocalModelStorage(path)


def execution_context(finetuning: bool = False) -> ExecutionContext:
    return ExecutionContext(GraphSchema({}), "test-model", is_finetuning=finetuning)


def create_policy(policy_class, config: Dict, storage, resource_name="policy",
                  finetuning: bool = False):
    return policy_class.create({**policy_class.get_default_config(), **config}, storage,
                               Resource(resource_name), execution_context(finetuning))


def load_policy(policy_class, config: Dict, storage, resource_name="policy",
                finetuning: bool = False):
    return policy_class.load({**policy_class.get_default_config(), **config}, storage,
                             Resource(resource_name), execution_context(finetuning))


def prediction_points(tracker: DialogueStateTracker, domain: Domain
                      ) -> List[Tuple[DialogueStateTracker, str]]:
    """(the tracker before each bot action, that action) along a story."""
    events = list(tracker.applied_events())
    points = []
    for i, event in enumerate(events):
        if isinstance(event, ActionExecuted) and i > 0:
            prefix = DialogueStateTracker.from_events(tracker.sender_id, events[:i],
                                                      slots=domain.slots)
            points.append((prefix, event.action_name))
    return points


def story_correct(policy, tracker, domain) -> bool:
    """Whether the policy predicts every bot action of the story."""
    for prefix, expected in prediction_points(tracker, domain):
        probabilities = policy.predict_action_probabilities(prefix, domain).probabilities
        best = max(range(len(probabilities)), key=probabilities.__getitem__)
        if domain.action_names_or_texts[best] != expected:
            return False
    return True
