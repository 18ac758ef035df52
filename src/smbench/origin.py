"""Whose figures a result file holds: the one place that says a file is not hardware.

A CPU-path file is host NumPy; an mlx file made on MLX's CPU device (Linux) is the host's
CPU through MLX, not Apple hardware. Every view (run summary, bench screen, compare, plot,
report) labels such a file with not_hardware() and never sets it beside a GPU as one.
"""

from __future__ import annotations

HOST_NUMPY = "host NumPy"
MLX_CPU = "mlx-cpu: not Apple hardware"


def not_hardware(document: dict) -> str:
    """What a measured file's figures are when they are not a GPU's ('' when they are)."""
    if document.get("kind") != "measured":
        return ""
    backend = document.get("backend")
    if backend == "cpu":
        return HOST_NUMPY
    if backend == "mlx" and not (document.get("device") or {}).get("metal"):
        return MLX_CPU
    return ""


def label(document: dict) -> str:
    """A file's short name where it is not hardware ('' where it is)."""
    what = not_hardware(document)
    return f"CPU path ({what})" if what == HOST_NUMPY else what
