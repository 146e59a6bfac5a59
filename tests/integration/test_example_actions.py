"""The example bot's search actions (SQLite-backed), without a running action server."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "example_bot"))
from actions.actions import search_hotel, search_restaurant  # noqa: E402


def test_an_exact_match_is_described_without_caveats():
    found = search_hotel("Rome", "cheap", "3")
    assert "Rome" in found and "(" not in found


def test_unmatched_wishes_are_relaxed_and_said_so():
    found = search_restaurant("rome", "expensive", "sushi", "30")
    assert "Rome" in found and "couldn't match" in found


def test_unknown_or_missing_cities_get_a_graceful_answer():
    assert "Atlantis" in search_hotel("Atlantis") and "don't have" in search_hotel("Atlantis")
    assert "tell me a city" in search_restaurant(None)
