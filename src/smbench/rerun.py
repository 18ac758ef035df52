"""`smbench rerun FILE`: run a result file's configuration again and say what moved.

The suite travels inside the result file (`suite_config`), so a rerun needs nothing but
the file. After the run, every figure is matched to the original by what it measured
(family, kernel, type, width, memory, working-set size, a GEMM's shape); a mismatch of kernel source
hash, compile options or element count is reported as a change of configuration, and a
figure whose samples the test tells apart (smbench.noise.difference: two-sided Mann-Whitney U at
p < 0.01, the ratio of medians and its interval) as moved. Every figure is named in full
(families.describe: its family's axes, sizes with units), with its noise and, where sampling did
not converge, the mark.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path

from smbench import compare, noise, ranks, results, run
from smbench.families import describe, figure_of, identity
from smbench.errors import SmbenchError
from smbench.suites import Suite, check, migrate

CONFIG_FIELDS = ("kernel_source_hash", "compile_options", "elements", "target")
TIME_UNITS = ("ns", "us")  # figures that grow with the time; the others are rates


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
    # (bytes, operations or loads per second) fell, the test telling the runs apart.
    slower: list[tuple[str, float]] = dataclass_field(default_factory=list)
    within: list[str] = dataclass_field(default_factory=list)  # each figure the test cannot tell apart
    not_converged: int = 0  # figures whose sampling did not converge in either run

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


def _value(record: dict, field: str) -> str:
    """'12.3 (4.1%)~': the figure's median, its noise, the mark where sampling did not converge."""
    spread = noise.of_timing(record.get("time_s"))
    return f"{record[field]['median']:.4g}" + (f" {spread.text()}" if spread else "")


def compare_runs(original: dict, new: dict, original_path: Path, new_path: Path) -> Comparison:
    before, after = _keyed(original, original_path), _keyed(new, new_path)
    changes, moved, within, slower, unsettled = [], [], [], [], 0
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
        timed = unit in TIME_UNITS  # the figure grows with the time (ns per load): its samples are too
        found = noise.difference(*[[1 / x for x in r] if timed and r else r for r in rates])
        if found is None:
            continue
        unsettled += bool(noise.mark(old) or noise.mark(fresh))
        line = (f"{label}: {_value(old, field)} -> {_value(fresh, field)} {unit}: {found.verdict()}, "
                f"n={found.n[0]}/{found.n[1]}")
        if found.beyond:
            rate_ratio = None if found.ratio is None else (1 / found.ratio if timed else found.ratio)
            if rate_ratio is not None and rate_ratio < 1:
                slower.append((label, 100 * (1 - rate_ratio)))
            moved.append(line)
        else:
            within.append(line)
    unmatched = [_label(r) for k, r in before.items() if k not in after]
    return Comparison(original_path, new_path, changes, moved, len(within), unmatched, slower, within, unsettled)


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
