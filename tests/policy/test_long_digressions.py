"""The policy uses its memory: the right action after five or more digression turns depends on
what was said before them. NTMPolicy gets it right, also for longer digressions than any it was
trained on; a TEDPolicy that sees the last 3 turns cannot."""
import numpy as np
import pytest
from rasa.core.policies.ted_policy import TEDPolicy

from rasa_ntm_policy import NTMPolicy
from tests.digression_bot import stories, task_story
from tests.rasa_helpers import create_policy, load_trackers, new_storage, story_correct

pytestmark = pytest.mark.slow  # trains NTMPolicy and TEDPolicy on digression stories


def digression_stories(lengths):
    return stories(*(task_story(task, k) for task in ("hotel", "restaurant") for k in lengths))


@pytest.fixture(scope="module")
def memory_trackers(domain, story_dir):
    return load_trackers(digression_stories([5, 6]), domain, story_dir)


@pytest.fixture(scope="module")
def longer_trackers(domain, story_dir):
    return load_trackers(digression_stories([9, 15]), domain, story_dir)


def test_memory_stories_need_memory(memory_trackers):
    # the stories differ only in the first user turn, 5+ digression turns before the choice
    assert len(memory_trackers) == 4
    assert all(len(t.events) > 30 for t in memory_trackers)


@pytest.fixture(scope="module")
def ntm(domain, memory_trackers, tmp_path_factory):
    policy = create_policy(NTMPolicy, {"epochs": 150, "random_seed": 1},
                           new_storage(tmp_path_factory.mktemp("ntm")))
    policy.train(memory_trackers, domain)
    return policy


def test_ntm_policy_gets_the_digression_stories_right(ntm, domain, memory_trackers):
    assert all(story_correct(ntm, t, domain) for t in memory_trackers)


def test_ntm_policy_gets_longer_digressions_right_than_it_was_trained_on(ntm, domain,
                                                                         longer_trackers):
    assert all(story_correct(ntm, t, domain) for t in longer_trackers)


def test_ted_with_a_short_history_does_not(domain, memory_trackers, tmp_path):
    ted = create_policy(TEDPolicy, {"max_history": 3, "epochs": 30, "random_seed": 1},
                        new_storage(tmp_path))
    ted.train(memory_trackers, domain, precomputations=None)
    results = [story_correct(ted, t, domain) for t in memory_trackers]
    assert not all(results)


def test_the_read_weights_of_the_last_turn_are_a_distribution(ntm, domain, memory_trackers):
    from tests.rasa_helpers import prediction_points
    prefix, _ = prediction_points(memory_trackers[0], domain)[-1]
    data = ntm.predict_action_probabilities(prefix, domain).diagnostic_data
    np.testing.assert_allclose(np.sum(data["read_weights"], -1), 1.0, atol=1e-5)
