"""Training the NTM dialogue model on full dialogues, with a TED-like progress bar."""
import logging
from typing import Dict, List, Optional

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
# Early stopping, where there are stories to spare: this fraction of the dialogues is held back,
# unless that is fewer than MIN_HELD_OUT (fewer than 200 stories: every story is trained on,
# for every epoch). Every CHECK_EVERY epochs the mean of the weights after each of those epochs
# is checked on their action accuracy; training stops after PATIENCE checks without a new best,
# and the model keeps the best check's mean weights.
HELD_OUT_FRACTION = 0.1
MIN_HELD_OUT = 20
CHECK_EVERY = 5
PATIENCE = 3


def held_out_count(num_dialogues: int) -> int:
    """How many of num_dialogues early stopping holds back (0: no early stopping)."""
    count = int(num_dialogues * HELD_OUT_FRACTION)
    return count if count >= MIN_HELD_OUT else 0


class EarlyStopping:
    """The best held-out accuracy so far, its weights, and whether to stop."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.best_accuracy = -np.inf
        self.best_weights: Optional[List[np.ndarray]] = None
        self.best_epoch = 0
        self.checks_since_best = 0

    def check(self, epoch: int, accuracy: float, weights: List[np.ndarray]) -> bool:
        """Records a check after `epoch` epochs; True when training should stop."""
        if accuracy > self.best_accuracy:
            self.best_accuracy, self.best_weights, self.best_epoch = accuracy, weights, epoch
            self.checks_since_best = 0
        else:
            self.checks_since_best += 1
        return self.checks_since_best >= self.patience


class RunningMean:
    """The element-wise mean of the weight lists added since it was created."""

    def __init__(self) -> None:
        self.mean: Optional[List[np.ndarray]] = None
        self.count = 0

    def add(self, values: List[np.ndarray]) -> None:
        self.count += 1
        self.mean = values if self.mean is None else [
            m + (v - m) / self.count for m, v in zip(self.mean, values)]


def masked_sums(scores: tf.Tensor, labels: tf.Tensor):
    """scores [B,T,A], labels [B,T] (PAD_LABEL masked) -> summed cross-entropy, number of
    correct predictions, number of labels (scalars)."""
    mask = tf.cast(labels != PAD_LABEL, tf.float32)
    safe = tf.maximum(labels, 0)
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=safe, logits=scores)
    correct = tf.cast(tf.equal(tf.argmax(scores, -1, output_type=tf.int32), safe), tf.float32)
    return tf.reduce_sum(losses * mask), tf.reduce_sum(correct * mask), tf.reduce_sum(mask)


def masked_loss_and_accuracy(scores: tf.Tensor, labels: tf.Tensor):
    """scores [B,T,A], labels [B,T] (PAD_LABEL masked) -> mean cross-entropy, accuracy."""
    loss, correct, count = masked_sums(scores, labels)
    count = tf.maximum(count, 1.0)
    return loss / count, correct / count


def averaged_epochs(epochs: int, fraction: float) -> int:
    """How many of the last epochs weight_averaging averages: a fraction of them, at least one
    when the fraction is above 0."""
    return min(epochs, int(np.ceil(fraction * epochs))) if fraction > 0 else 0


def train_model(model: NTMDialogueModel, turns: np.ndarray, restore: np.ndarray,
                labels: np.ndarray,
                label_features: np.ndarray, config: Dict,
                optimizer: tf.keras.optimizers.Optimizer, show_progress: bool,
                strategy: Optional[tf.distribute.Strategy] = None) -> Dict[str, float]:
    """Trains on turns [B,T,F], restores [B,T] and labels [B,T] for up to config["epochs"]
    epochs; returns the last epoch's metrics (and, with early stopping, the held-out ones).

    From 200 dialogues on, HELD_OUT_FRACTION of them (drawn with the random seed) are held back
    and training stops early (EarlyStopping). Each check scores the mean of the weights after
    each epoch since the previous check (weight averaging over a window of CHECK_EVERY epochs),
    and the model ends with the best check's mean. With fewer, every dialogue is trained on for
    every epoch and the model ends with the mean of its weights after each of the last
    WEIGHT_AVERAGING of the epochs (stochastic weight averaging): a point in the middle of where
    the last steps wandered, which generalises better from few stories than the last.

    Every batch has the same shape (the last one is filled up with repeated dialogues whose
    labels are masked), so the training step compiles once with XLA; its loop over the turns
    stops at the batch's longest dialogue. With a strategy (devices.training_strategy; the model
    and optimizer created in its scope) each batch is split between its devices.
    """
    rng = np.random.default_rng(config["random_seed"])  # held out, batch order, dropout masks
    label_features = tf.constant(label_features)
    held_out = held_out_count(turns.shape[0])
    stopping = EarlyStopping(PATIENCE) if held_out else None
    if held_out:
        order = rng.permutation(turns.shape[0])
        held, kept = np.sort(order[:held_out]), np.sort(order[held_out:])
        held_data = (turns[held], restore[held], labels[held])
        turns, restore, labels = turns[kept], restore[kept], labels[kept]
    num_dialogues = turns.shape[0]
    batch_size = min(config["batch_size"], num_dialogues)

    @tf.function(jit_compile=True)
    def held_out_accuracy(held_turns, held_restore, held_labels):
        scores = model.scores(held_turns, held_restore, label_features,
                              active_turns=active_turns(held_labels))
        return masked_loss_and_accuracy(scores, held_labels)[1]

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

    if strategy is not None:
        train_step = _distributed_step(model, label_features, optimizer, strategy)

    metrics = {"loss": float("nan"), "acc": float("nan")}
    progress = tqdm(range(config["epochs"]), desc="Epochs", disable=not show_progress)
    averaged_fraction = 0.0 if stopping else WEIGHT_AVERAGING
    first_averaged = config["epochs"] - averaged_epochs(config["epochs"], averaged_fraction)
    averages = RunningMean()
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
        if stopping or epoch >= first_averaged:
            last = [v.numpy() for v in model.trainable_variables]
            averages.add(last)
        postfix = {"t_loss": f"{metrics['loss']:.3f}", "acc": f"{metrics['acc']:.3f}"}
        if stopping and ((epoch + 1) % CHECK_EVERY == 0 or epoch + 1 == config["epochs"]):
            # the window's mean weights are scored; training goes on from the last ones
            _assign(model, averages.mean)
            accuracy = float(held_out_accuracy(*held_data))
            _assign(model, last)
            metrics["held_out_acc"] = accuracy
            stop = stopping.check(epoch + 1, accuracy, averages.mean)
            averages = RunningMean()
            postfix["held_out_acc"] = f"{accuracy:.3f}"
            logger.info(f"NTMPolicy: epoch {epoch + 1}, held-out action accuracy {accuracy:.6f}")
            if stop:
                progress.set_postfix(postfix)
                logger.info(f"NTMPolicy: stopped after epoch {epoch + 1}, keeping the weights "
                            f"of epoch {stopping.best_epoch} "
                            f"(held-out accuracy {stopping.best_accuracy:.4f})")
                break
        progress.set_postfix(postfix)
    kept = stopping.best_weights if stopping is not None else averages.mean
    if kept is not None:
        _assign(model, kept)
    logger.debug(f"NTMPolicy finished training: {metrics}")
    return metrics


def _assign(model: NTMDialogueModel, weights: List[np.ndarray]) -> None:
    for variable, value in zip(model.trainable_variables, weights):
        variable.assign(value)


def _distributed_step(model: NTMDialogueModel, label_features: tf.Tensor,
                      optimizer: tf.keras.optimizers.Optimizer,
                      strategy: tf.distribute.Strategy):
    """train_step's equal on the strategy's devices: (turns, restore, labels, dropout seed) of a
    batch -> its mean loss and accuracy (devices.py)."""
    replicas = strategy.num_replicas_in_sync

    @tf.function(jit_compile=True)
    def gradients(turns, restore, labels, dropout_seed, count):
        with tf.GradientTape() as tape:
            scores = model.scores(turns, restore, label_features, dropout_seed,
                                  active_turns(labels))
            loss, correct, _ = masked_sums(scores, labels)
            loss = loss / count  # this device's share of the batch's mean loss
        return tape.gradient(loss, model.trainable_variables), loss, correct / count

    def replica_step(turns, restore, labels, dropout_seed, count):
        grads, loss, accuracy = gradients(turns, restore, labels, dropout_seed, count)
        grads = tf.distribute.get_replica_context().all_reduce("sum", grads)
        grads, _ = tf.clip_by_global_norm(grads, GRADIENT_CLIP_NORM)
        optimizer.apply_gradients(zip(grads, model.trainable_variables),
                                  skip_gradients_aggregation=True)
        return loss, accuracy

    @tf.function
    def run(turns, restore, labels, seeds, count):
        loss, accuracy = strategy.run(replica_step, args=(turns, restore, labels, seeds, count))
        return (strategy.reduce("SUM", loss, axis=None),
                strategy.reduce("SUM", accuracy, axis=None))

    def step(batch_turns, batch_restore, batch_labels, dropout_seed):
        size = -(-len(batch_turns) // replicas)  # the batch split, the last part filled up
        fill = size * replicas - len(batch_turns)
        if fill:
            batch_turns = np.concatenate([batch_turns, batch_turns[:fill]])
            batch_restore = np.concatenate([batch_restore, batch_restore[:fill]])
            batch_labels = np.concatenate(
                [batch_labels, np.full_like(batch_labels[:fill], PAD_LABEL)])
        count = np.float32(max((batch_labels != PAD_LABEL).sum(), 1))

        def part(values):
            return strategy.experimental_distribute_values_from_function(
                lambda context: values[context.replica_id_in_sync_group * size:
                                       (context.replica_id_in_sync_group + 1) * size])

        seeds = strategy.experimental_distribute_values_from_function(
            lambda context: dropout_seed + np.int32(context.replica_id_in_sync_group))
        return run(part(batch_turns), part(batch_restore), part(batch_labels), seeds, count)

    return step
