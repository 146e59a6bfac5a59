"""Training on several devices (rasa_ntm_policy/devices.py): the CPU split into two logical
devices, in a fresh process. With dropout off, a model trained on both devices ends with the
weights of one trained on one device (to float rounding: the gradients are summed in another
order), predicts the same, and persists and loads like any other."""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent('''
    import json, sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from rasa.core.training import load_data
    from rasa.shared.core.domain import Domain
    import rasa_ntm_policy.policy as policy_module
    from rasa_ntm_policy import NTMPolicy
    from rasa_ntm_policy.devices import training_strategy
    from tests.rasa_helpers import create_policy, load_policy, new_storage, prediction_points

    bot = sys.argv[1]
    domain = Domain.load(bot + "/domain.yml")
    trackers = load_data(bot + "/data/stories.yml", domain, augmentation_factor=0)[:7]
    config = {"epochs": 3, "batch_size": 3, "dropout": 0.0, "memory_slots": 8,
              "controller_units": 8, "random_seed": 7}
    out = {"replicas": training_strategy().num_replicas_in_sync}
    two_storage = new_storage()
    two = create_policy(NTMPolicy, config, two_storage)
    two.train(trackers, domain)
    out["two_strategy"] = two._strategy.num_replicas_in_sync
    policy_module.training_strategy = lambda: None
    one = create_policy(NTMPolicy, config, new_storage())
    one.train(trackers, domain)
    out["one_strategy"] = one._strategy is None
    out["max_weight_difference"] = max(
        float(np.abs(a.numpy() - b.numpy()).max())
        for a, b in zip(two.model.trainable_variables, one.model.trainable_variables))
    out["max_weight"] = max(float(np.abs(a.numpy()).max()) for a in one.model.trainable_variables)
    loaded = load_policy(NTMPolicy, config, two_storage)
    differences = []
    for tracker in trackers[:3]:
        for point, _ in prediction_points(tracker, domain)[-3:]:
            p = [np.array(policy.predict_action_probabilities(point, domain).probabilities)
                 for policy in (two, one, loaded)]
            differences.append(float(max(np.abs(p[0] - p[1]).max(), np.abs(p[0] - p[2]).max())))
    out["max_probability_difference"] = max(differences)
    print("RESULT " + json.dumps(out))
''')


def test_training_on_two_logical_cpus_equals_training_on_one():
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(ROOT / "example_bot")], cwd=ROOT,
                            capture_output=True, text=True, timeout=600,
                            env={"RASA_TELEMETRY_ENABLED": "false", "PATH": "/usr/bin:/bin",
                                 "PYTHONPATH": str(ROOT)})
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, result.stderr[-3000:]
    out = json.loads(lines[-1][len("RESULT "):])
    assert out["replicas"] == 2 and out["two_strategy"] == 2 and out["one_strategy"]
    # the weights moved (3 epochs) and the two trainings ended at the same ones
    assert out["max_weight"] > 0.1
    assert out["max_weight_difference"] < 1e-4, out
    assert out["max_probability_difference"] < 1e-4, out
