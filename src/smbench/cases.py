"""What the harness and the families pass each other: a case to run, a skip, a record's base.

A family's plan turns a suite and a device into Cases; its run turns one Case into a
record (a dict), raising Skip for a case the device cannot run. The harness (smbench.run)
writes records as they finish and knows nothing more about them.
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1 << 20


@dataclass
class Case:
    family: str
    benchmark: str
    label: str
    params: dict


class Skip(Exception):
    """A case the device cannot run: a skipped row with this reason."""


def base_record(case: Case) -> dict:
    """The fields every record starts with: family, benchmark and the case's parameters
    (less those that only steer the plan)."""
    return {"family": case.family, "benchmark": case.benchmark,
            **{k: v for k, v in case.params.items() if k not in ("offered", "why")}}
