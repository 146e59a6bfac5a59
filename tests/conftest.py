import os

# Before anything imports Rasa or TensorFlow.
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402
from rasa.shared.core.domain import Domain  # noqa: E402

from tests.digression_bot import DOMAIN_YAML, stories, task_story  # noqa: E402
from tests.rasa_helpers import load_trackers  # noqa: E402


# The tiny hotel/restaurant bot of tests/digression_bot.py, for the policies' tests.
@pytest.fixture(scope="session")
def domain():
    return Domain.from_yaml(DOMAIN_YAML)


@pytest.fixture(scope="session")
def story_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("stories")


@pytest.fixture(scope="session")
def trackers(domain, story_dir):
    text = stories(task_story("hotel", 1), task_story("restaurant", 2),
                   task_story("hotel", 0), task_story("restaurant", 0))
    return load_trackers(text, domain, story_dir)
