"""Which GPUs each pytest-xdist worker sees: the visible devices split round-robin over workers."""

from __future__ import annotations

import os


def visible_gpus() -> list[str]:
    """The GPU ids this process may use ($CUDA_VISIBLE_DEVICES, else every GPU torch counts)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d.strip() for d in visible.split(",") if d.strip()]
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except Exception:  # no torch or no driver: no GPUs
        return []


def worker_gpus(devices: list[str], n_workers: int, worker_index: int) -> list[str]:
    """The devices of worker ``worker_index`` of ``n_workers``: every n-th device, starting at its index.

    With fewer devices than workers, workers share them round-robin (worker i gets device i mod G).
    """
    if not devices or n_workers < 1:
        return []
    if len(devices) < n_workers:
        return [devices[worker_index % len(devices)]]
    return devices[worker_index::n_workers]
