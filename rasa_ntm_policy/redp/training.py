"""Training REDP: margin loss on embeddings with sampled negatives, batch size growing per epoch.

Shapes: B dialogues, T turns, A actions, K negatives (num_neg), E embedding size.
"""
import logging
from typing import Any, Dict, NamedTuple

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from rasa_ntm_policy.padding import PAD_LABEL
from rasa_ntm_policy.redp.config import batch_sizes
from rasa_ntm_policy.redp.model import REDPModel

logger = logging.getLogger(__name__)

BATCH_BUCKETS = 8  # batches are padded to a multiple of this, so few shapes are compiled


class DialogueData(NamedTuple):
    user: np.ndarray  # [B, T, Fu]
    slots: np.ndarray  # [B, T, Fs]
    previous: np.ndarray  # [B, T, L]
    labels: np.ndarray  # [B, T] action indices, PAD_LABEL after each dialogue's end

    def take(self, index) -> "DialogueData":
        return DialogueData(*(x[index] for x in self))


def batch_size_for_epoch(config_batch_size, epoch: int, epochs: int) -> int:
    """REDP's linearly increasing batch size (arXiv 1711.00489)."""
    first, last = batch_sizes(config_batch_size)
    if epochs <= 1:
        return first
    return int(first + epoch * (last - first) / (epochs - 1))


def loss_scales(data: DialogueData) -> np.ndarray:
    """[B, T] REDP's inverse-frequency loss scales: max(1, sqrt(mean count / count)) where
    count is how often a (turn features, label) pair occurs among the batch's real turns."""
    valid = data.labels != PAD_LABEL
    rows = np.concatenate([data.user, data.slots, data.previous,
                           data.labels[..., None].astype(np.float32)], -1)[valid]
    scales = np.ones(data.labels.shape, np.float32)
    if len(rows):
        _, inverse, counts = np.unique(rows, axis=0, return_inverse=True, return_counts=True)
        scales[valid] = np.maximum(np.sqrt(counts.mean() / counts[inverse.reshape(-1)]), 1.0)
    return scales


def sample_negatives(labels: tf.Tensor, num_actions: int, num_neg: int, seed) -> tf.Tensor:
    """[B, T] labels -> [B, T, K] actions drawn uniformly (with replacement) among the others."""
    draws = tf.random.stateless_uniform(tf.concat([tf.shape(labels), [num_neg]], 0), seed,
                                        minval=0, maxval=num_actions - 1, dtype=tf.int32)
    safe = tf.maximum(labels, 0)[..., None]
    return draws + tf.cast(draws >= safe, tf.int32)


def margin_loss(model: REDPModel, outputs, action_embeddings, labels, negatives, scales,
                config: Dict[str, Any]) -> tf.Tensor:
    """REDP's loss, averaged over each dialogue's turns, then over the dialogues.

    outputs: DialogueOutputs ([B,T,E] embeddings and [B,T] copy likelihoods);
    action_embeddings [A,E]; labels [B,T]; negatives [B,T,K]; scales [B,T].
    """
    mask = tf.cast(labels != PAD_LABEL, tf.float32)
    positive = tf.gather(action_embeddings, tf.maximum(labels, 0))  # [B,T,E]
    negative = tf.gather(action_embeddings, negatives)  # [B,T,K,E]
    dialogue = outputs.embeddings
    sim_positive = model.similarities(dialogue, positive)
    sim_negative = model.similarities(dialogue[:, :, None], negative)
    loss = tf.maximum(0.0, config["mu_pos"] - sim_positive)
    if config["use_max_sim_neg"]:
        loss += tf.maximum(0.0, config["mu_neg"] + tf.reduce_max(sim_negative, -1))
    else:
        loss += tf.reduce_sum(tf.maximum(0.0, config["mu_neg"] + sim_negative), -1)
    if config["scale_loss_by_action_counts"]:
        loss *= scales
    # keep different actions' embeddings apart
    sim_actions = model.similarities(positive[:, :, None], negative)
    loss += config["C_emb"] * tf.maximum(0.0, tf.reduce_max(sim_actions, -1))
    # the copy mechanism's likelihoods
    loss += tf.maximum(0.0, 1.0 - outputs.attention_likelihood)
    loss += tf.maximum(0.0, 1.0 - outputs.state_likelihood)
    per_dialogue = tf.reduce_sum(loss * mask, -1) / tf.maximum(tf.reduce_sum(mask, -1), 1.0)
    real = tf.cast(tf.reduce_any(labels != PAD_LABEL, -1), tf.float32)  # not a batch filler
    return tf.reduce_sum(per_dialogue * real) / tf.maximum(tf.reduce_sum(real), 1.0)


def accuracy(model: REDPModel, embeddings, action_embeddings, labels) -> tf.Tensor:
    """Fraction of real turns whose most similar action is the label."""
    sims = model.similarities(embeddings[:, :, None], action_embeddings)  # [B,T,A]
    mask = tf.cast(labels != PAD_LABEL, tf.float32)
    right = tf.cast(tf.argmax(sims, -1, output_type=tf.int32) == labels, tf.float32)
    return tf.reduce_sum(right * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


def train_model(model: REDPModel, data: DialogueData, label_features: np.ndarray,
                listen: np.ndarray, config: Dict[str, Any],
                optimizer: tf.keras.optimizers.Optimizer, show_progress: bool) -> Dict[str, float]:
    """Trains for config["epochs"] epochs; returns the last epoch's mean loss and accuracy.

    Batches are padded up to a multiple of BATCH_BUCKETS with fillers whose labels are masked
    (they add nothing to the loss), so the XLA-compiled step sees few shapes.
    """
    num_dialogues, length = data.labels.shape
    num_actions = label_features.shape[0]
    num_neg = min(config["num_neg"], max(num_actions - 1, 1))
    rng = np.random.default_rng(config["random_seed"])
    label_features = tf.constant(label_features)
    listen = tf.constant(listen)

    @tf.function(jit_compile=True, reduce_retracing=True)
    def train_step(user, slots, previous, labels, scales, seed):
        negatives = sample_negatives(labels, num_actions, num_neg, seed)
        with tf.GradientTape() as tape:
            outputs = model.run_dialogues(user, slots, previous, listen, tf.shape(user)[1],
                                          dropout_seed=seed + [7, 0])
            actions = model.embed_action(label_features)
            loss = margin_loss(model, outputs, actions, labels, negatives, scales, config)
            total = loss + tf.add_n(model.losses) if model.losses else loss
        variables = model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(total, variables), variables))
        return loss, accuracy(model, outputs.embeddings, actions, labels)

    metrics = {"loss": float("nan"), "acc": float("nan")}
    epochs = config["epochs"]
    progress = tqdm(range(epochs), desc="Epochs", disable=not show_progress)
    for epoch in progress:
        order = rng.permutation(num_dialogues)
        size = min(batch_size_for_epoch(config["batch_size"], epoch, epochs), num_dialogues)
        losses, accuracies = [], []
        for start in range(0, num_dialogues, size):
            batch = data.take(order[start:start + size])
            scales = loss_scales(batch)
            padded = -(-len(batch.labels) // BATCH_BUCKETS) * BATCH_BUCKETS
            if padded > len(batch.labels):
                filler = rng.integers(0, num_dialogues, padded - len(batch.labels))
                extra = data.take(filler)._replace(
                    labels=np.full_like(data.labels[filler], PAD_LABEL))
                batch = DialogueData(*(np.concatenate([a, b]) for a, b in zip(batch, extra)))
                scales = np.concatenate([scales, np.ones_like(extra.labels, np.float32)])
            seed = rng.integers(0, 2 ** 31 - 1, size=2).astype(np.int32)
            loss, acc = train_step(*batch, scales, seed)
            losses.append(float(loss))
            accuracies.append(float(acc))
        metrics = {"loss": float(np.mean(losses)), "acc": float(np.mean(accuracies))}
        progress.set_postfix({"loss": f"{metrics['loss']:.3f}", "acc": f"{metrics['acc']:.3f}"})
    logger.debug(f"REDPPolicy finished training: {metrics}")
    return metrics
