import numpy as np
import pytest

from rasa_ntm_policy.ntm.heads import head_parameters, read_parameter_size, write_parameter_size


def test_parameters_are_constrained_even_for_extreme_raw_values():
    w, r = 4, 2
    raw = np.array([[[-1e9] * 3 + [1e9] * (write_parameter_size(w, r) - 3)]], np.float32)
    p = head_parameters(raw, w, r, is_write=True)
    assert np.all(np.abs(p.keys.numpy()) <= 1)
    assert np.all(p.strengths.numpy() >= 0)
    assert np.all((p.gate.numpy() >= 0) & (p.gate.numpy() <= 1))
    np.testing.assert_allclose(p.shift_weights.numpy().sum(-1), 1.0, atol=1e-6)
    assert np.all(p.gamma.numpy() >= 1) and np.all(np.isfinite(p.gamma.numpy()))
    assert np.all((p.erase.numpy() >= 0) & (p.erase.numpy() <= 1))
    assert np.all(np.abs(p.add.numpy()) <= 1)
    assert p.shift_weights.shape == (1, 1, 2 * r + 1)


def test_read_heads_have_no_erase_or_add():
    raw = np.zeros([2, 3, read_parameter_size(5, 1)], np.float32)
    p = head_parameters(raw, 5, 1, is_write=False)
    assert p.erase is None and p.add is None
    assert p.keys.shape == (2, 3, 5) and p.gamma.shape == (2, 3)


def test_wrong_parameter_count_is_rejected():
    with pytest.raises(ValueError, match="expected"):
        head_parameters(np.zeros([1, 1, 7], np.float32), 5, 1, is_write=True)
