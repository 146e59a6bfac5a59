"""Neural Turing Machine memory in TensorFlow 2: addressing, memory, heads, step and cell."""
from rasa_ntm_policy.ntm import addressing, memory
from rasa_ntm_policy.ntm.cell import NTMCell, NTMState
from rasa_ntm_policy.ntm.step import memory_step

__all__ = ["addressing", "memory", "NTMCell", "NTMState", "memory_step"]
