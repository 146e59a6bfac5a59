"""bench/gpu/cpu_step_forms.py: the forms it times compute the same step on the same inputs."""
import numpy as np

from tests.bench_scripts import bench_module

forms_bench = bench_module("gpu/cpu_step_forms")


def test_every_timed_form_computes_the_library_step():
    forms = forms_bench.compiled_forms(batch=3)
    assert set(forms) == set(forms_bench.FORMS)
    results = {name: fn(*args) for name, (fn, args) in forms.items()}
    expected = results["direct"]
    for name, result in results.items():
        memory = result[0].numpy()
        if forms_bench.FORMS[name][1] == "slots_minor":
            memory = memory.transpose(0, 2, 1)
        np.testing.assert_allclose(memory, expected[0].numpy(), atol=1e-5)
        for got, want in zip(result[1:], expected[1:]):
            np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5)


def test_best_seconds_times_every_form():
    forms = forms_bench.compiled_forms(batch=1)
    best = forms_bench.best_seconds(forms, rounds=1, calls=2)
    assert set(best) == set(forms) and all(0 < s < 10 for s in best.values())
