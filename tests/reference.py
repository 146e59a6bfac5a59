"""Independent NumPy implementations of the NTM equations (Graves et al. 2014), for the tests.

Written loop by loop from the paper, in float64, deliberately unlike the vectorised TF code.
"""
import numpy as np

EPS = 1e-6


def content_weights(memory, keys, strengths):
    b_, h_, _ = keys.shape
    n_ = memory.shape[1]
    out = np.zeros([b_, h_, n_])
    for b in range(b_):
        for h in range(h_):
            k = keys[b, h].astype(np.float64)
            sims = np.array([
                np.dot(k, memory[b, n]) / (np.sqrt(np.dot(k, k) + EPS)
                                           * np.sqrt(np.dot(memory[b, n], memory[b, n]) + EPS))
                for n in range(n_)])
            e = np.exp(strengths[b, h] * sims - np.max(strengths[b, h] * sims))
            out[b, h] = e / e.sum()
    return out


def interpolate(w_content, w_prev, gate):
    return gate[..., None] * w_content + (1 - gate[..., None]) * w_prev


def circular_shift(w, s):
    b_, h_, n_ = w.shape
    r = s.shape[-1] // 2
    out = np.zeros_like(w, dtype=np.float64)
    for b in range(b_):
        for h in range(h_):
            for i in range(n_):
                out[b, h, i] = sum(w[b, h, (i - k) % n_] * s[b, h, k + r] for k in range(-r, r + 1))
    return out


def sharpen(w, gamma):
    p = (w.astype(np.float64) + EPS) ** gamma[..., None]
    return p / p.sum(-1, keepdims=True)


def address(memory, w_prev, keys, strengths, gate, shift_weights, gamma):
    w = content_weights(memory, keys, strengths)
    return sharpen(circular_shift(interpolate(w, w_prev, gate), shift_weights), gamma)


def read(memory, w):
    b_, h_, _ = w.shape
    return np.stack([np.stack([w[b, h] @ memory[b] for h in range(h_)]) for b in range(b_)])


def write(memory, w, erase, add):
    out = memory.astype(np.float64).copy()
    for b in range(memory.shape[0]):
        keep = np.ones(memory.shape[1:])
        added = np.zeros(memory.shape[1:])
        for h in range(w.shape[1]):
            keep *= 1 - np.outer(w[b, h], erase[b, h])
            added += np.outer(w[b, h], add[b, h])
        out[b] = out[b] * keep + added
    return out


def linear_shift(w, s):
    """result(i) = sum_k w(i - k) s(k), k in -R..R, w = 0 outside 0..N-1 (no wrap-around)."""
    b_, h_, n_ = w.shape
    r = s.shape[-1] // 2
    out = np.zeros_like(w, dtype=np.float64)
    for b in range(b_):
        for h in range(h_):
            for i in range(n_):
                out[b, h, i] = sum(w[b, h, i - k] * s[b, h, k + r]
                                   for k in range(-r, r + 1) if 0 <= i - k < n_)
    return out
