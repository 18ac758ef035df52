"""What the harness and the families pass each other: a case to run, a skip, a record's base.

A family's plan turns a suite and a device into Cases; its run turns one Case into a
record (a dict), raising Skip for a case the device cannot run. The harness (smbench.run)
writes records as they finish and knows nothing more about them.
"""

from __future__ import annotations

from dataclasses import dataclass

from smbench.units import MIB  # noqa: F401 - families import it from here too
# The memory a device's own cases run in: a CUDA GPU's, the host's (the CPU path, MLX's CPU
# device), Apple silicon's unified memory. Every other kind is one of the CUDA memory kinds.
HOME_MEMORY = ("device", "host", "unified")


@dataclass
class Case:
    family: str
    benchmark: str
    label: str
    params: dict
    skip: str = ""  # why the harness skips it without asking the family (a backend without its part)


@dataclass
class Validation:
    """Whether a case's output matched its reference, and how that was checked."""

    ok: bool
    checked: int
    detail: str
    max_abs_error: float = 0.0
    tolerance: float = 0.0

    def to_dict(self) -> dict:
        return {"ok": self.ok, "checked": self.checked, "detail": self.detail,
                "max_abs_error": self.max_abs_error, "tolerance": self.tolerance}


class Skip(Exception):
    """A case the device cannot run: a skipped row with this reason."""


# The kernel provenance fields of a record measured without a compiled kernel (the CPU path).
NO_KERNEL = {"target": None, "compile_options": None, "kernel_source_hash": None}


def case_of(family: str, point, benchmark: str, label: str, **params) -> Case:
    """A case for one point of a family's axes (smbench.axes.Point): its fields are the case's
    parameters, and so its record's identity; a point the device cannot run is skipped."""
    return Case(family, benchmark, label, {**point.fields, **params}, skip=point.skip)


def base_record(case: Case) -> dict:
    """The fields every record starts with: family, benchmark and the case's parameters
    (less those that only steer the plan)."""
    return {"family": case.family, "benchmark": case.benchmark,
            **{k: v for k, v in case.params.items() if k not in ("offered", "why")}}
