"""`smbench rerun FILE`: run a result file's configuration again and say what moved.

The suite travels inside the result file (`suite_config`), so a rerun needs nothing but
the file. After the run, every figure is matched to the original by what it measured
(family, kernel, type, width, memory, working-set size, a GEMM's shape); a mismatch of kernel source
hash, compile options or element count is reported as a change of configuration, and a
figure whose samples differ beyond the noise of both (compare.differs) as moved.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path

import numpy as np

from smbench import compare, ranks, results, run
from smbench.families import describe, figure_of, identity
from smbench.errors import SmbenchError
from smbench.suites import Suite, check, migrate

CONFIG_FIELDS = ("kernel_source_hash", "compile_options", "elements", "target")


def key(record: dict) -> tuple:
    """What a figure measured: its identity by its family's declared axes (smbench.axes)."""
    return identity(record)


@dataclass
class Comparison:
    original: Path
    new: Path
    config_changes: list[str]
    moved: list[str]
    steady: int
    unmatched: list[str]
    # (figure, percent slower) of each figure that moved the wrong way: its samples' rate
    # (bytes, operations or loads per second) fell beyond the noise of both runs.
    slower: list[tuple[str, float]] = dataclass_field(default_factory=list)

    def regressions(self, percent: float) -> list[tuple[str, float]]:
        return [(label, slower) for label, slower in self.slower if slower > percent]


def _label(record: dict) -> str:
    """The figure named fully by what identifies it (its family's axes, sizes with units)."""
    return describe(record)


def _keyed(document: dict, path: Path) -> dict:
    """The ok records by identity; two with one identity are a malformed file, never a silent overwrite."""
    keyed: dict = {}
    for record in document["records"]:
        if record["status"] != "ok":
            continue
        k = key(record)
        if k in keyed:
            raise SmbenchError(f"{path}: two records measure the same thing ({describe(record)}): "
                               f"rerun cannot tell which to compare")
        keyed[k] = record
    return keyed


def suite_of(document: dict, path: Path) -> Suite:
    data = document.get("suite_config")
    if not isinstance(data, dict):
        raise SmbenchError(f"{path}: no 'suite_config' in the file (made before smbench recorded it); "
                           "run its suite by name instead")
    data = migrate(data)
    check(data, path.name)
    return Suite(document["suite"], path, document.get("suite_description", ""), data)


def compare_runs(original: dict, new: dict, original_path: Path, new_path: Path) -> Comparison:
    before, after = _keyed(original, original_path), _keyed(new, new_path)
    changes, moved, steady, slower = [], [], 0, []
    for k, old in before.items():
        fresh = after.get(k)
        if fresh is None:
            continue
        label = _label(old)
        for field in CONFIG_FIELDS:
            if old.get(field) != fresh.get(field):
                changes.append(f"{label}: {field} was {old.get(field)!r}, now {fresh.get(field)!r}")
        # Each family says which figure its records are judged by (families.Family.figure).
        figure = figure_of(old)
        field, unit = figure.field, figure.unit
        rates = [compare.samples_of(record, figure.amount, figure.scale) for record in (old, fresh)]
        real, p = compare.differs(*rates)
        if real:
            drop = 100 * (1 - float(np.median(rates[1])) / float(np.median(rates[0])))
            if drop > 0:
                slower.append((label, drop))
            moved.append(f"{label}: {old[field]['median']:.2f} -> {fresh[field]['median']:.2f} {unit} "
                         f"({fresh[field]['median'] / old[field]['median'] - 1:+.1%}, p={p:.1e})")
        elif real is not None:
            steady += 1
    unmatched = [_label(r) for k, r in before.items() if k not in after]
    return Comparison(original_path, new_path, changes, moved, steady, unmatched, slower)


def rerun(path: Path, out_dir: Path, on_case=None) -> Comparison | None:
    original = results.load(path)
    if original["kind"] != "measured":
        raise SmbenchError(f"{path} holds published figures: there is nothing to run again")
    if not original["records"]:
        raise SmbenchError(f"{path} holds no records: nothing says what to run again")
    suite = suite_of(original, Path(path))
    world = ranks.world()
    made_by = (original.get("world") or {}).get("size", 1)
    if made_by != world.size:
        raise SmbenchError(f"{path} was made by {made_by} rank{'s' if made_by > 1 else ''}, this is {world.size}: "
                           f"run it again under the same launch (e.g. mpiexec -n {made_by} smbench rerun {path})")
    runner = run.resolve_backend(original["backend"], suite)
    families = {r["family"] for r in original["records"]}
    new_path, _ = run.execute(suite, runner, families, out_dir, on_case)
    if not world.is_root:
        return None  # rank 0 wrote the file and compares it
    return compare_runs(original, results.load(new_path), Path(path), new_path)
