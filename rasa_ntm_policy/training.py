"""Training the NTM dialogue model on full dialogues, with a TED-like progress bar."""
import logging
from typing import Dict

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from rasa_ntm_policy.model import NTMDialogueModel
from rasa_ntm_policy.padding import PAD_LABEL, active_turns

logger = logging.getLogger(__name__)

# the design's fixed choices (see docs/ntm_policy.md); the options are in config.py
GRADIENT_CLIP_NORM = 10.0  # the global norm the gradients are clipped to
# the fraction of the last epochs whose weights are averaged (stochastic weight averaging)
WEIGHT_AVERAGING = 0.25


def masked_loss_and_accuracy(scores: tf.Tensor, labels: tf.Tensor):
    """scores [B,T,A], labels [B,T] (PAD_LABEL masked) -> mean cross-entropy, accuracy."""
    mask = tf.cast(labels != PAD_LABEL, tf.float32)
    safe = tf.maximum(labels, 0)
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=safe, logits=scores)
    count = tf.maximum(tf.reduce_sum(mask), 1.0)
    correct = tf.cast(tf.equal(tf.argmax(scores, -1, output_type=tf.int32), safe), tf.float32)
    return tf.reduce_sum(losses * mask) / count, tf.reduce_sum(correct * mask) / count


def averaged_epochs(epochs: int, fraction: float) -> int:
    """How many of the last epochs weight_averaging averages: a fraction of them, at least one
    when the fraction is above 0."""
    return min(epochs, int(np.ceil(fraction * epochs))) if fraction > 0 else 0


def train_model(model: NTMDialogueModel, turns: np.ndarray, restore: np.ndarray,
                labels: np.ndarray,
                label_features: np.ndarray, config: Dict,
                optimizer: tf.keras.optimizers.Optimizer, show_progress: bool) -> Dict[str, float]:
    """Trains on turns [B,T,F], restores [B,T] and labels [B,T] for config["epochs"] epochs;
    returns the last epoch's metrics.

    The model ends with the mean of its weights after each of the last WEIGHT_AVERAGING of the
    epochs (stochastic weight averaging): a point in the middle of where the last steps
    wandered, which generalises better from few stories than the last.

    Every batch has the same shape (the last one is filled up with repeated dialogues whose
    labels are masked), so the training step compiles once with XLA; its loop over the turns
    stops at the batch's longest dialogue.
    """
    num_dialogues = turns.shape[0]
    batch_size = min(config["batch_size"], num_dialogues)
    rng = np.random.default_rng(config["random_seed"])  # batch order and dropout masks
    label_features = tf.constant(label_features)

    @tf.function(jit_compile=True)
    def train_step(batch_turns, batch_restore, batch_labels, dropout_seed):
        with tf.GradientTape() as tape:
            active = active_turns(batch_labels)
            scores = model.scores(batch_turns, batch_restore, label_features, dropout_seed, active)
            loss, accuracy = masked_loss_and_accuracy(scores, batch_labels)
        variables = model.trainable_variables
        grads = tape.gradient(loss, variables)
        grads, _ = tf.clip_by_global_norm(grads, GRADIENT_CLIP_NORM)
        optimizer.apply_gradients(zip(grads, variables))
        return loss, accuracy

    metrics = {"loss": float("nan"), "acc": float("nan")}
    progress = tqdm(range(config["epochs"]), desc="Epochs", disable=not show_progress)
    first_averaged = config["epochs"] - averaged_epochs(config["epochs"], WEIGHT_AVERAGING)
    averages, averaged = None, 0
    for epoch in progress:
        order = rng.permutation(num_dialogues)
        losses, accuracies = [], []
        for start in range(0, num_dialogues, batch_size):
            index = order[start:start + batch_size]
            batch_labels = labels[index]
            if len(index) < batch_size:  # fill up, masking the fillers' labels
                filler = order[:batch_size - len(index)]
                index = np.concatenate([index, filler])
                batch_labels = np.concatenate(
                    [batch_labels, np.full_like(labels[filler], PAD_LABEL)])
            dropout_seed = rng.integers(0, 2 ** 31 - 1, size=2).astype(np.int32)
            loss, accuracy = train_step(turns[index], restore[index], batch_labels, dropout_seed)
            losses.append(float(loss))
            accuracies.append(float(accuracy))
        metrics = {"loss": float(np.mean(losses)), "acc": float(np.mean(accuracies))}
        if epoch >= first_averaged:
            values = [v.numpy() for v in model.trainable_variables]
            averaged += 1
            averages = values if averages is None else [
                a + (v - a) / averaged for a, v in zip(averages, values)]
        progress.set_postfix({"t_loss": f"{metrics['loss']:.3f}", "acc": f"{metrics['acc']:.3f}"})
    if averages is not None:
        for variable, average in zip(model.trainable_variables, averages):
            variable.assign(average)
    logger.debug(f"NTMPolicy finished training: {metrics}")
    return metrics
