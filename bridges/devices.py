"""Where an operator keeps the constant tensors it is built from (DESIGN.md, devices)."""

from __future__ import annotations

import torch


def gpu_or_cpu(*tensors) -> torch.device:
    """The device of the first of ``tensors`` (None ignored) on a GPU, else the CPU: constants given partly as host
    arrays and partly on a GPU then all go to that GPU, so the operator computes there without copies."""
    return next((t.device for t in tensors if t is not None and t.device.type != "cpu"), torch.device("cpu"))
