"""REDP's time attention: NTM-style addressing over the turns of the dialogue so far.

Pure functions (Vlasov, Drissner-Schmid, Nichol 2018, arXiv 1811.11707, section 3; the behaviour
of rasa_core 0.14.5's TimedNTM). Shapes: B dialogues, T turns (the memory is the whole padded
dialogue; only turns up to the current one are attended to), E embedding size, R shift range.

One attention step at turn t:
  scores  = Bahdanau scores of the query against every turn            [B, T]
  scores  = g * scores + (1 - g) * previous scores   (turns before t; turn t keeps its score)
  probs   = softmax over the valid turns (visited, not ignored, and turn t itself)
  probs   = shift by -R..R over the valid turns only (as if they were contiguous), no wrap-around
  probs   = sharpen(probs, gamma)
The interpolation acts on scores, not weights (as in REDP, unlike the NTM).
"""
import tensorflow as tf

from rasa_ntm_policy.ntm.addressing import interpolate, linear_shift, sharpen

NEGATIVE_INFINITY = -1e9  # exp() of it is exactly 0 in float32


def bahdanau_scores(keys, query, v, g, b) -> tf.Tensor:
    """Normalised Bahdanau (additive) scores: sum_e g v_e / |v| tanh(keys + query + b)_e.

    Args:
      keys: [B, T, E] the memory through the attention's memory layer.
      query: [B, E] the query through its query layer.
      v: [E], g: scalar, b: [E] the weight-normalised score vector, its gain and bias.
    Returns:
      [B, T] scores.
    """
    normed_v = g * v * tf.math.rsqrt(tf.reduce_sum(tf.square(v)))
    return tf.reduce_sum(normed_v * tf.tanh(keys + query[:, None, :] + b), axis=-1)


def valid_turns(time_mask, ignore, t) -> tf.Tensor:
    """[B, T] 1.0 where turn attention may look at step t: visited turns before t that are
    neither forgotten (time_mask 0) nor ignored (ignore 1), and turn t itself."""
    positions = tf.range(tf.shape(time_mask)[1])
    before = tf.cast(positions < t, time_mask.dtype)[None, :]
    current = tf.cast(positions == t, time_mask.dtype)[None, :]
    return time_mask * (1.0 - ignore) * before + current


def interpolate_scores(scores, previous_scores, gate, t) -> tf.Tensor:
    """[B, T]: gate * scores + (1 - gate) * previous_scores at turns before t, scores at turn t,
    0 after it (the next step's previous scores). gate: [B, 1]."""
    positions = tf.range(tf.shape(scores)[1])[None, :]
    mixed = interpolate(scores[:, None, :], previous_scores[:, None, :], gate)[:, 0, :]
    return tf.where(positions < t, mixed, tf.where(positions == t, scores, 0.0))


def compact_order(valid) -> tf.Tensor:
    """[B, T] int32 permutation that puts the invalid turns first and the valid ones last, each
    group in time order (REDP shifts over the valid turns as if they were contiguous)."""
    return tf.argsort(tf.cast(valid > 0, tf.int32), axis=-1, stable=True)


def _masked_softmax(scores, valid) -> tf.Tensor:
    return tf.nn.softmax(tf.where(valid > 0, scores, NEGATIVE_INFINITY), axis=-1)


def time_attention(scores, valid, shift_weights, gamma) -> tf.Tensor:
    """Attention weights over the turns.

    Args:
      scores: [B, T] (interpolated) scores.
      valid: [B, T] 1.0 for the turns that may be attended to (at least one per row).
      shift_weights: [B, 2R+1] distribution over shifts -R..R, or None for no shift.
      gamma: [B, 1] sharpening exponents >= 1.
    Returns:
      [B, T] weights, 0 on invalid turns, summing to 1.
    """
    if shift_weights is None:
        probs = _masked_softmax(scores, valid)
    else:
        order = compact_order(valid)
        compact = _masked_softmax(tf.gather(scores, order, batch_dims=1),
                                  tf.gather(valid, order, batch_dims=1))
        shifted = linear_shift(compact[:, None, :], shift_weights[:, None, :])[:, 0, :]
        probs = tf.gather(shifted, tf.argsort(order, axis=-1), batch_dims=1) * valid
    sharp = sharpen(probs[:, None, :], gamma)[:, 0, :] * valid
    return sharp / tf.maximum(tf.reduce_sum(sharp, -1, keepdims=True), 1e-30)
