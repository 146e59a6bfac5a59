"""Prediction runs a tf.while_loop over turns whose body is one XLA-compiled cluster."""
import numpy as np
import tensorflow as tf

from rasa_ntm_policy.config import DEFAULTS
from rasa_ntm_policy.model import NTMDialogueModel


def functions_by_name(graph_def):
    return {f.signature.name: f for f in graph_def.library.function}


def test_prediction_loop_body_is_an_xla_cluster_and_matches_training_scores():
    model = NTMDialogueModel(12, 5, {**DEFAULTS, "memory_slots": 8, "controller_units": 16})
    model.build_all()
    concrete = model.predict_last.get_concrete_function()
    graph_def = concrete.graph.as_graph_def()
    functions = functions_by_name(graph_def)
    whiles = [n for n in graph_def.node if n.op in ("While", "StatelessWhile")]
    assert len(whiles) == 1, "one loop over the turns"
    body = functions[whiles[0].attr["body"].func.name]
    calls = [n for n in body.node_def if n.op in ("PartitionedCall", "StatefulPartitionedCall")]
    compiled = [c for c in calls if functions[c.attr["f"].func.name].attr["_XlaMustCompile"].b]
    assert len(compiled) == 1, "the per-turn step is one XLA-compiled function"

    rng = np.random.default_rng(0)
    turns = (rng.uniform(size=[7, 12]) < 0.3).astype(np.float32)
    labels = (rng.uniform(size=[4, 5]) < 0.5).astype(np.float32)
    prediction = model.predict_last(turns, turns[-1], labels)
    scores = model.scores(turns[None], tf.fill([1, 7], -1), labels)[0, -1]
    np.testing.assert_allclose(prediction.probabilities.numpy(), tf.nn.softmax(scores).numpy(),
                               atol=1e-5)
