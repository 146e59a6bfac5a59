"""Random inputs for the NTM tests (hypothesis draws the shapes and seeds)."""
import numpy as np
from hypothesis import strategies as st


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@st.composite
def addressing_inputs(draw, max_batch=3, max_heads=3, max_slots=12, max_width=6):
    b = draw(st.integers(1, max_batch))
    h = draw(st.integers(1, max_heads))
    n = draw(st.integers(1, max_slots))
    w = draw(st.integers(1, max_width))
    r = draw(st.integers(0, (n - 1) // 2))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 31)))
    f = np.float32
    return dict(
        memory=rng.normal(size=[b, n, w]).astype(f),
        w_prev=softmax(rng.normal(size=[b, h, n]) * 3).astype(f),
        keys=rng.normal(size=[b, h, w]).astype(f),
        strengths=rng.uniform(0, 20, size=[b, h]).astype(f),
        gate=rng.uniform(0, 1, size=[b, h]).astype(f),
        shift_weights=softmax(rng.normal(size=[b, h, 2 * r + 1]) * 2).astype(f),
        gamma=rng.uniform(1, 10, size=[b, h]).astype(f),
        erase=rng.uniform(0, 1, size=[b, h, w]).astype(f),
        add=rng.normal(size=[b, h, w]).astype(f),
    )
