"""NTM head addressing (Graves, Wayne, Danihelka 2014, arXiv 1410.5401, section 3.3).

Pure functions on float32 tensors. Shapes use:
  B batch, H heads, N memory slots, W slot width, R shift range (shifts -R..R).

Every function accepts TensorFlow tensors or NumPy arrays and returns a tf.Tensor.
Each op used here has a GPU kernel and lowers to XLA (tests/ntm/test_gpu_kernels.py checks).
"""
import tensorflow as tf

# One epsilon for the whole module: keeps norms, logs and divisions finite on all-zero memory
# or keys and on one-hot weightings.
EPSILON = 1e-6


def _as_float(x) -> tf.Tensor:
    return tf.convert_to_tensor(x, dtype=tf.float32)


def _l2_norm(x: tf.Tensor, axis: int) -> tf.Tensor:
    """sqrt(sum x^2 + EPSILON): smooth at x = 0, so its gradient stays finite."""
    return tf.sqrt(tf.reduce_sum(tf.square(x), axis=axis) + EPSILON)


def content_weights(memory, keys, strengths) -> tf.Tensor:
    """Content addressing (eqs. 5-6): softmax over slots of beta * cosine(key, slot).

    Args:
      memory: [B, N, W] memory matrix.
      keys: [B, H, W] one key per head.
      strengths: [B, H] key strengths beta >= 0.
    Returns:
      [B, H, N] weightings, non-negative, summing to 1 over N.
    """
    memory, keys, strengths = _as_float(memory), _as_float(keys), _as_float(strengths)
    # Broadcast-multiply-and-sum rather than a batched matmul: XLA fuses it with the norms
    # into one pass over the memory (a [B, 1, W] x [B, W, N] matmul is a poor GPU kernel).
    dot = tf.reduce_sum(keys[:, :, None, :] * memory[:, None, :, :], axis=-1)
    return weights_from_similarity(dot, tf.reduce_sum(tf.square(memory), -1), keys, strengths)


def weights_from_similarity(dot, squared_norms, keys, strengths) -> tf.Tensor:
    """Content weightings from key-slot dot products and the slots' squared norms.

    softmax over slots of beta * dot / (|key| |slot|), each norm sqrt(x^2 + EPSILON): the same as
    content_weights, for callers that have the sums already (bench/gpu/gpu_variants.py).

    Args:
      dot: [B, H, N] key . slot. squared_norms: [B, N] sum of squares of each slot.
      keys: [B, H, W]. strengths: [B, H].
    Returns:
      [B, H, N] weightings.
    """
    dot, squared_norms = _as_float(dot), _as_float(squared_norms)
    keys, strengths = _as_float(keys), _as_float(strengths)
    norms = _l2_norm(keys, -1)[:, :, None] * tf.sqrt(squared_norms + EPSILON)[:, None, :]
    return tf.nn.softmax(strengths[:, :, None] * (dot / norms), axis=-1)


def interpolate(w_content, w_prev, gate) -> tf.Tensor:
    """Interpolation gate (eq. 7): g * w_content + (1 - g) * w_prev.

    Args:
      w_content: [B, H, N] content weightings.
      w_prev: [B, H, N] the head's weightings from the previous step.
      gate: [B, H] interpolation gate g in [0, 1].
    Returns:
      [B, H, N] weightings.
    """
    w_content, w_prev, gate = _as_float(w_content), _as_float(w_prev), _as_float(gate)
    gate = gate[:, :, None]
    return gate * w_content + (1.0 - gate) * w_prev


def circular_shift(w, shift_weights) -> tf.Tensor:
    """Location addressing by circular convolution (eq. 8).

    result(i) = sum_k w(i - k) s(k), k in -R..R, indices mod N; s(k) is shift_weights[..., k + R].
    A one-hot weight on k = +1 moves the focus one slot forward.

    Args:
      w: [B, H, N] weightings.
      shift_weights: [B, H, 2R+1] distribution over shifts -R..R (2R+1 <= N).
    Returns:
      [B, H, N] weightings.
    """
    w, shift_weights = _as_float(w), _as_float(shift_weights)
    num_shifts = shift_weights.shape[-1]
    if num_shifts is None or num_shifts % 2 != 1:
        raise ValueError(
            f"shift_weights needs an odd, static last dimension 2R+1, got {num_shifts}")
    shift_range = num_shifts // 2
    n_slots = w.shape[-1]
    if n_slots is not None and num_shifts > n_slots:
        raise ValueError(f"shift range R={shift_range} needs 2R+1 <= N slots, but N={n_slots}")
    # rolled[..., i, j] = w(i - (j - R)): the 2R+1 rolls side by side, then one weighted sum.
    rolled = tf.stack([tf.roll(w, shift=k, axis=-1) for k in range(-shift_range, shift_range + 1)],
                      axis=-1)
    return tf.reduce_sum(rolled * shift_weights[:, :, None, :], axis=-1)


def linear_shift(w, shift_weights) -> tf.Tensor:
    """Location addressing by convolution without wrap-around (REDP's time attention).

    result(i) = sum_k w(i - k) s(k), k in -R..R, with w = 0 outside 0..N-1 (so weight shifted past
    either end is lost); the same convention as circular_shift, whose indices wrap instead.

    Args:
      w: [B, H, N] weightings.
      shift_weights: [B, H, 2R+1] distribution over shifts -R..R.
    Returns:
      [B, H, N] weightings (summing to at most 1).
    """
    w, shift_weights = _as_float(w), _as_float(shift_weights)
    num_shifts = shift_weights.shape[-1]
    if num_shifts is None or num_shifts % 2 != 1:
        raise ValueError(
            f"shift_weights needs an odd, static last dimension 2R+1, got {num_shifts}")
    shift_range = num_shifts // 2
    n_slots = tf.shape(w)[-1]
    padded = tf.pad(w, [[0, 0], [0, 0], [shift_range, shift_range]])
    # shifted[..., i, j] = w(i - (j - R)) = padded(i + 2R - j)
    shifted = tf.stack([padded[:, :, 2 * shift_range - j:2 * shift_range - j + n_slots]
                        for j in range(num_shifts)], axis=-1)
    return tf.reduce_sum(shifted * shift_weights[:, :, None, :], axis=-1)


def sharpen(w, gamma) -> tf.Tensor:
    """Sharpening (eq. 9): w^gamma / sum(w^gamma), computed as a softmax of gamma * log(w + eps).

    Args:
      w: [B, H, N] non-negative weightings.
      gamma: [B, H] sharpening exponents >= 1.
    Returns:
      [B, H, N] weightings summing to 1; a large gamma gives a one-hot on the largest weight.
    """
    w, gamma = _as_float(w), _as_float(gamma)
    return tf.nn.softmax(gamma[:, :, None] * tf.math.log(w + EPSILON), axis=-1)


def address(memory, w_prev, keys, strengths, gate, shift_weights, gamma) -> tf.Tensor:
    """The full addressing mechanism (figure 2): content, interpolate, shift, sharpen.

    Args:
      memory: [B, N, W]; w_prev: [B, H, N]; keys: [B, H, W]; strengths: [B, H];
      gate: [B, H]; shift_weights: [B, H, 2R+1]; gamma: [B, H].
    Returns:
      [B, H, N] weightings.
    """
    return locate(content_weights(memory, keys, strengths), w_prev, gate, shift_weights, gamma)


def locate(w_content, w_prev, gate, shift_weights, gamma) -> tf.Tensor:
    """The location steps of addressing (figure 2): interpolate, shift, sharpen.

    Args:
      w_content: [B, H, N] content weightings; w_prev: [B, H, N]; gate: [B, H];
      shift_weights: [B, H, 2R+1]; gamma: [B, H].
    Returns:
      [B, H, N] weightings.
    """
    w = interpolate(w_content, w_prev, gate)
    w = circular_shift(w, shift_weights)
    return sharpen(w, gamma)
