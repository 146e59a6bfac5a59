"""Fixtures of the policy tests: the example bot's domain and stories."""
from pathlib import Path

import pytest
from rasa.core.training import load_data
from rasa.shared.core.domain import Domain

BOT = Path(__file__).resolve().parents[2] / "example_bot"


@pytest.fixture(scope="module")
def bot_domain():
    return Domain.load(str(BOT / "domain.yml"))


@pytest.fixture(scope="module")
def stories(bot_domain):
    """The example bot's training stories (forms, task switches, digressions), as events."""
    trackers = load_data(str(BOT / "data" / "stories.yml"), bot_domain, augmentation_factor=0)
    return [list(t.events) for t in sorted(trackers, key=lambda t: t.sender_id)[:12]]
