"""The example bot end to end: `rasa train`, `rasa test core`, and its memory drawn.

Slow (it trains NLU and dialogue, a few minutes); run alone with `pytest tests/integration`.
"""
import io
import json
import sys
import tarfile
import urllib.error
import urllib.request

import pytest

from tests.integration.conftest import BOT, RASA, free_port, post, run, start, stop, wait_for

pytestmark = pytest.mark.slow  # trains the example bot with `rasa train`


def test_every_test_story_is_right(model, tmp_path):
    # --e2e: the test stories' user text goes through the NLU, and a wrong intent or entity
    # fails the story as a wrong action does
    run([RASA, "test", "core", "--stories", "tests/test_stories.yml", "-m", str(model),
         "--e2e", "--out", str(tmp_path)])
    report = json.loads((tmp_path / "story_report.json").read_text())
    accuracy = report["conversation_accuracy"]
    assert accuracy["total"] >= 16
    failed = tmp_path / "failed_test_stories.yml"
    assert accuracy["correct"] == accuracy["total"], failed.read_text()


def test_the_memory_of_a_task_switch_is_drawn_and_printed(model, tmp_path):
    picture = tmp_path / "memory.png"
    story = "test a restaurant in the middle of a hotel booking"
    result = run([sys.executable, "-m", "rasa_ntm_policy.inspect", str(model),
                  str(BOT / "tests" / "test_stories.yml"), "--story", story,
                  "--out", str(picture)])
    rows = [line for line in result.stdout.splitlines() if line[:3].strip().isdigit()]
    # one row per bot action of the story (Rasa folds a form's answers into one form action)
    assert [int(row[:3]) for row in rows] == list(range(len(rows)))
    taken = [row[46:78].strip() for row in rows]  # the "action taken" column
    # after the restaurant's search, the hotel form again: the way back to the first booking
    assert "hotel_form" in taken[taken.index("action_search_restaurant"):]
    assert picture.read_bytes()[:4] == b"\x89PNG"


def with_broken_weights(model, out):
    """A copy of the model archive whose NTMPolicy weights file is garbage."""
    broken = 0
    with tarfile.open(model) as source, tarfile.open(out, "w:gz") as target:
        for member in source.getmembers():
            data = source.extractfile(member).read() if member.isfile() else None
            if "NTMPolicy" in member.name and member.name.endswith(".data-00000-of-00001"):
                data, broken = b"garbage", broken + 1
                member.size = len(data)
            target.addfile(member, io.BytesIO(data) if data is not None else None)
    assert broken == 1
    return out


def test_rasa_run_with_a_broken_model_serves_no_replies_and_says_why(model, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    broken = with_broken_weights(model, tmp_path / "broken.tar.gz")
    process = start([RASA, "run", "-m", str(broken), "--enable-api", "--port", str(port),
                     "--credentials", "credentials.yml"])
    try:
        wait_for(f"{url}/", process)  # Rasa loads the model before it starts serving
        with pytest.raises(urllib.error.HTTPError) as status:
            urllib.request.urlopen(f"{url}/status", timeout=30)
        assert status.value.code == 409  # no model loaded
        try:
            replies = post(f"{url}/webhooks/rest/webhook", {"sender": "s", "message": "hi"})
        except urllib.error.HTTPError as error:
            replies = error.code
        assert replies in ([], 500), replies  # nothing from the broken model
    finally:
        stop([process])
    log = process.stdout.read()
    assert "NTMPolicy" in log and "Retrain" in log, log[-3000:]
