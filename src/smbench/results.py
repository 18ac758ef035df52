"""Result files: one JSON document per run, versioned, written as the run goes.

The file is rewritten whole (to a temporary file, then renamed over) after every
record (one record a line), so an interrupted run leaves a valid document holding every record that
finished, with status "running" or "interrupted". `load` checks the schema and says
which field is wrong, in one line.
"""

from __future__ import annotations

import json
from pathlib import Path

from smbench.errors import SmbenchError, cannot_write
from smbench.fsutil import atomic_write_text

SCHEMA = "smbench.result/1"
STATUSES = ("running", "complete", "interrupted")
KINDS = ("measured", "published")  # run by smbench, or public figures with their sources
RECORD_STATUSES = ("ok", "failed", "skipped")
REQUIRED = {"schema": str, "kind": str, "suite": str, "backend": str, "status": str, "provenance": dict,
            "device": dict, "records": list}
RECORD_REQUIRED = {"family": str, "benchmark": str, "status": str}


def _jsonable(value):
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "__dict__"):
        return value.__dict__
    return str(value)


class ResultWriter:
    """The run's file, rewritten whole after every record. Each record is turned into JSON
    once, when it is added (one line, by the C encoder); only the small header is encoded
    again each time. Encoding the whole document after every case (indented, which takes
    Python's encoder) grew with the square of the cases: about 70 s of host time over the
    quick suite's 370 cases on an H200 (benchmarks/gpu_host_cost.py)."""

    def __init__(self, path: Path, header: dict):
        self.path = Path(path)
        self.document = {"schema": SCHEMA, "kind": "measured", "status": "running", **header, "records": []}
        self._records: list[str] = []
        try:
            self._write()
        except OSError as exc:
            raise cannot_write(self.path, exc) from None

    def add(self, record: dict) -> None:
        self.document["records"].append(record)
        self._records.append(json.dumps(record, default=_jsonable))
        self._write()

    def finish(self, status: str) -> None:
        self.document["status"] = status
        self._write()

    def _write(self) -> None:
        header = json.dumps({k: v for k, v in self.document.items() if k != "records"}, indent=1,
                            default=_jsonable)
        records = "[\n" + ",\n".join(self._records) + "\n ]" if self._records else "[]"
        atomic_write_text(self.path, header[:-1].rstrip() + f',\n "records": {records}\n}}\n')


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_timing(timing, where: str) -> None:
    if not isinstance(timing, dict):
        raise SmbenchError(f"{where} should be an object")
    if "median" not in timing:  # several timings under names (one per figure of the record)
        for name, inner in timing.items():
            _check_timing(inner, f"{where}.{name}")
        return
    for field in ("median", "min", "max", "mean"):
        if field in timing and not _is_number(timing[field]):
            raise SmbenchError(f"{where}.{field} should be a number")
    samples = timing.get("samples", [])
    if not isinstance(samples, list) or not all(_is_number(x) for x in samples):
        raise SmbenchError(f"{where}.samples should be a list of numbers")


def _families() -> dict:
    from smbench.families import registry  # here: the families' modules import this one's callers

    return registry()


# The statistics of a figure (smbench.timing.Stats, a family's rate objects) that are all
# read from samples of a bandwidth, a throughput or a time: none of them can be below zero.
FIGURE_STATISTICS = ("median", "best", "min", "max", "mean", "q25", "q75")


def _figures(record: dict, prefix: str = ""):
    """(field, object) of each measured figure: a record field holding an object with a
    numeric 'median' (GB/s, TFLOP/s, us, ns, time_s), and time_s's named timings."""
    for name, value in record.items():
        if not isinstance(value, dict) or name == "telemetry":
            continue  # telemetry holds temperatures and clocks, not figures
        if _is_number(value.get("median")):
            yield prefix + name, value
        elif name == "time_s":
            yield from _figures(value, f"{prefix}{name}.")


def _check_not_negative(record: dict, where: str) -> None:
    """A hand-edited or corrupted file's negative figure is refused here, with the field,
    before compare divides by it, a plot draws it on a log axis or a report judges it."""
    for name, figure in _figures(record):
        for statistic in FIGURE_STATISTICS:
            value = figure.get(statistic)
            if _is_number(value) and value < 0:
                raise SmbenchError(f"{where}.{name}.{statistic} is {value:g}: a bandwidth, throughput or time "
                                   "cannot be negative")
        samples = figure.get("samples")
        if isinstance(samples, list) and any(_is_number(x) and x < 0 for x in samples):
            raise SmbenchError(f"{where}.{name}.samples holds a negative value: a bandwidth, throughput or time "
                               "cannot be negative")


def _check_record_values(record: dict, where: str) -> None:
    """The figures compare, plot and report read: numbers where numbers are expected (the
    rates any record may hold, and the figure its family is judged by)."""
    family = _families().get(record.get("family"))
    figure = family.figure.field if family is not None else None
    for name in dict.fromkeys(("gbps", "tflops", figure)):
        if name in record:
            value = record[name]
            if not isinstance(value, dict) or not _is_number(value.get("median")):
                raise SmbenchError(f"{where}.{name} should be an object with a numeric 'median'")
            for extra in ("best", "min"):
                if extra in value and not _is_number(value[extra]):
                    raise SmbenchError(f"{where}.{name}.{extra} should be a number")
    for name in ("working_set_bytes", "bytes_moved", "bytes", "elements", "working_set", "width"):
        if record.get("published") and record.get(name) == "largest":
            continue  # a published size its source states only as the largest (smbench.reference.LARGEST)
        if name in record and record[name] is not None and not (
                isinstance(record[name], int) and not isinstance(record[name], bool) and record[name] >= 0):
            raise SmbenchError(f"{where}.{name} should be a whole number")
    if "time_s" in record:
        _check_timing(record["time_s"], f"{where}.time_s")
    _check_not_negative(record, where)
    if family is not None and family.check_record is not None and record.get("status") == "ok":
        family.check_record(record, where)  # the fields its own readers index
    telemetry = record.get("telemetry")
    if telemetry is not None:
        if not isinstance(telemetry, dict) or not isinstance(telemetry.get("samples", []), list):
            raise SmbenchError(f"{where}.telemetry should be an object with a list of samples")
        for sample in telemetry.get("samples", []):
            if not isinstance(sample, dict) or not _is_number(sample.get("t")):
                raise SmbenchError(f"{where}.telemetry.samples should be objects with a numeric 't'")


def validate_document(document, origin: str = "result") -> dict:
    """The document if it is a result file smbench can read; else a one-line SmbenchError."""
    if not isinstance(document, dict):
        raise SmbenchError(f"{origin}: not a JSON object")
    if document.get("schema") != SCHEMA:
        found = document.get("schema")
        raise SmbenchError(f"{origin}: field 'schema' is {found!r}, expected {SCHEMA!r}"
                           + (" (a compat matrix, not a result file)" if str(found).startswith("smbench.compat") else ""))
    for name, kind in REQUIRED.items():
        if name not in document:
            raise SmbenchError(f"{origin}: missing field '{name}'")
        if not isinstance(document[name], kind):
            raise SmbenchError(f"{origin}: field '{name}' should be {kind.__name__}, "
                               f"not {type(document[name]).__name__}")
    if document["kind"] not in KINDS:
        raise SmbenchError(f"{origin}: field 'kind' is {document['kind']!r}, expected one of {KINDS}")
    if document["status"] not in STATUSES:
        raise SmbenchError(f"{origin}: field 'status' is {document['status']!r}, expected one of {STATUSES}")
    for number, record in enumerate(document["records"]):
        if not isinstance(record, dict):
            raise SmbenchError(f"{origin}: records[{number}] is not an object")
        for name, kind in RECORD_REQUIRED.items():
            if not isinstance(record.get(name), kind):
                raise SmbenchError(f"{origin}: records[{number}] lacks a {kind.__name__} field '{name}'")
        if record["status"] not in RECORD_STATUSES:
            raise SmbenchError(f"{origin}: records[{number}].status is {record['status']!r}")
        if record["status"] == "ok" and not isinstance(record.get("validation"), dict):
            raise SmbenchError(f"{origin}: records[{number}] is ok but carries no validation")
        _check_record_values(record, f"{origin}: records[{number}]")
    for family in _families().values():
        if family.check_header is not None:
            family.check_header(document, origin)  # what it adds to a file's header
    host = document["provenance"].get("host")
    if host is not None and not isinstance(host, dict):
        raise SmbenchError(f"{origin}: field 'provenance.host' should be an object")
    return document


def _timings(value):
    """Every timing object in a record's `time_s` (one, or several under names: launch's)."""
    if isinstance(value, dict) and "median" in value:
        yield value
    elif isinstance(value, dict):
        for inner in value.values():
            yield from _timings(inner)


def upgrade_noise(document: dict) -> dict:
    """A file written before smbench.noise held stdev / mean under `noise`: that number moves
    to `rel_stdev` (the stopping rule's statistic) and `noise` becomes the interquartile range /
    median, as every reader shows it; the median's 95% interval is added from the samples."""
    from smbench import noise

    for record in document["records"]:
        for timing in _timings(record.get("time_s")):
            if "rel_stdev" in timing or "noise" not in timing:
                continue
            timing["rel_stdev"] = timing["noise"]
            samples = timing.get("samples") or []
            timing["noise"] = noise.relative_iqr(samples) if len(samples) > 1 else None
            interval = noise.median_interval(samples)
            timing["median_ci95"] = list(interval[:2]) if interval else None
    return document


def load(path: Path) -> dict:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SmbenchError(f"no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SmbenchError(f"cannot read {path}: {exc}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SmbenchError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    return upgrade_noise(validate_document(document, str(path)))
