import os

# Before anything imports Rasa or TensorFlow.
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402
from rasa.shared.core.domain import Domain  # noqa: E402

from tests.digression_bot import DOMAIN_YAML, stories, task_story  # noqa: E402
from tests.rasa_helpers import load_trackers  # noqa: E402

INTEGRATION = "tests/integration/"
# The example bot's integration tests, in two groups that share the trained bot (the `model`
# fixture trains it once per run): the ones without servers first, the ones that start
# `rasa run` servers last, so the other worker has the bot trained by the time it gets there.
FIRST, LAST = "example_bot", "example_bot_servers"
SERVER_MODULES = ("test_example_conversations.py", "test_scale_out.py")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items):
    """With pytest-xdist (`make test` runs two workers, `--dist loadgroup`), the tests of one
    module run in one worker, so a module's trained fixtures are trained once; the example bot's
    tests run in the two groups above, FIRST at the start of the run and LAST at its end."""
    def group(item):
        path = item.nodeid.split("::")[0]
        if not path.startswith(INTEGRATION):
            return path
        return LAST if path.endswith(SERVER_MODULES) else FIRST

    for item in items:
        item.add_marker(pytest.mark.xdist_group(group(item)))
    order = {FIRST: 0, LAST: 2}
    items.sort(key=lambda item: order.get(group(item), 1))  # stable: keeps the rest in order


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
