"""Which devices NTMPolicy trains on: all of them, with tf.distribute.MirroredStrategy, where
there are several.

Each training batch is split between the devices; each computes the gradient of its share of the
batch's loss (its dialogues' summed losses over the whole batch's count of labels), the
gradients are summed across the devices and applied once, so the step is the one-device step
(apart from the dropout masks, drawn per device). Several GPUs are used where TensorFlow sees
them; otherwise several logical CPU devices, where a program has split the CPU
(tf.config.set_logical_device_configuration: what the tests do); otherwise the default device.
"""
from typing import Optional

import tensorflow as tf


def training_strategy() -> Optional[tf.distribute.Strategy]:
    """A MirroredStrategy over the GPUs, or the logical CPUs, when there are two or more; None
    for one device."""
    gpus = [device.name for device in tf.config.list_logical_devices("GPU")]
    if gpus:
        return tf.distribute.MirroredStrategy(gpus) if len(gpus) >= 2 else None
    cpus = [device.name for device in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(cpus) if len(cpus) >= 2 else None
