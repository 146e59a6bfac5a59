"""The NTM learns the copy task, which a plain LSTM of the same size does not in the same steps."""
import numpy as np
import pytest

from tests.bench_scripts import bench_module

pytestmark = pytest.mark.slow  # 2000 training steps of an NTM and an LSTM

copy_task = bench_module("copy_task_harness")

STEPS = 2000
THRESHOLD = 0.1  # mean bit cross-entropy over the last 250 steps


def train_curve(kind):
    copy_task.seed_everything(0)
    model = copy_task.build_model(kind, units=32, memory_slots=16, memory_width=10)
    curve = copy_task.train(model, STEPS, seed=1, learning_rate=3e-3, log_every=250)
    return model, curve


def test_ntm_learns_copy_where_the_lstm_does_not():
    ntm, ntm_curve = train_curve("ntm")
    lstm, lstm_curve = train_curve("lstm")
    assert ntm_curve[-1][1] < THRESHOLD, ntm_curve
    assert lstm_curve[-1][1] > THRESHOLD, lstm_curve
    ntm_errors = copy_task.evaluate(ntm, [5], seed=2)[5]
    lstm_errors = copy_task.evaluate(lstm, [5], seed=2)[5]
    assert ntm_errors < 1.0 < lstm_errors, (ntm_errors, lstm_errors)


def test_copy_batches_are_well_formed():
    batch = copy_task.make_batch(np.random.default_rng(0), 8, 1, 5)
    assert batch.inputs.shape == (8, 11, 9) and batch.targets.shape == (8, 11, 8)
    for inputs, targets, mask in zip(*batch):
        length = int(mask.sum())
        assert 1 <= length <= 5 and inputs[length, 8] == 1 and inputs[:, 8].sum() == 1
        np.testing.assert_array_equal(targets[length + 1:2 * length + 1], inputs[:length, :8])
