"""python -m rasa_ntm_policy.inspect: the report and the picture, and its errors."""
import numpy as np
import pytest

from rasa_ntm_policy import inspect as memory_inspect


def turn(action, top_action, slot):
    weights = np.eye(8)[slot]
    return memory_inspect.TurnView("user: hi (greet)", action, [(top_action, 0.9),
                                   ("action_listen", 0.05), ("utter_greet", 0.05)],
                                   weights, weights)


def test_the_report_has_a_line_per_turn_and_marks_the_misses(tmp_path):
    turns = [turn("utter_greet", "utter_greet", 2), turn("action_listen", "utter_greet", 5)]
    lines = memory_inspect.text_report(turns).splitlines()
    assert len(lines) == 1 + len(turns) + 1
    assert lines[1].split()[0] == "0" and lines[2].split()[0] == "1*"
    assert lines[1].split()[-2:] == ["2", "2"] and lines[2].split()[-2:] == ["5", "5"]
    memory_inspect.draw(turns, tmp_path / "m.png", "test")
    assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"


def test_a_missing_model_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        memory_inspect.main([str(tmp_path / "none.tar.gz"), "x.yml"])
    assert exit.value.code == 2
    assert "no model archive" in capsys.readouterr().err
