"""Reading the files the readers (export, compare, rerun, plot, report) are given: result
files, each with a short label for its column, and compat or scan matrices beside them.
Every reader loads a result file through `load` here, which says in one line when the file
is not a finished run's."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Sequence

from smbench import origin
from smbench.errors import SmbenchError

# What a status other than "complete" means for the figures in the file (smbench.results.STATUSES).
UNFINISHED = {
    "running": "the run is still going, or was killed before it could say so, by SIGKILL or a lost machine",
    "interrupted": "the run was stopped (Ctrl-C or a signal) and kept the cases it had finished",
}


def load(path: Path, command: str, say: bool = True) -> dict:
    """A result file for a reader, with one line on stderr when its run did not finish:
    its figures are real but some cases are missing, and a comparison would not say so.
    `say`: False on the ranks other than 0 of a multi-rank rerun (rank 0 says it once)."""
    from smbench.results import load as load_result

    document = load_result(Path(path))
    status = document["status"]
    if status != "complete" and say:
        print(f"smbench {command}: warning: {path} has status {status!r} "
              f"({UNFINISHED.get(status, 'not a finished run')}; {len(document['records'])} records): "
              "its figures may be incomplete", file=sys.stderr)
    return document


def load_all(paths: Sequence[Path], command: str) -> list[tuple[str, dict]]:
    if not paths:
        raise SmbenchError("name at least one result file")
    loaded = [(Path(p), load(Path(p), command)) for p in paths]
    return [(label, document) for label, (_, document) in zip(labels(loaded), loaded)]


def labels(loaded: list[tuple[Path, dict]]) -> list[str]:
    """Short column names: the device, with the file's stem where two files share a device."""
    def short(document: dict, path: Path) -> str:
        device = document["device"]
        if device.get("key"):
            return device["key"]
        if origin.not_hardware(document):
            return origin.label(document)
        return str(device.get("name", path.stem)).replace("NVIDIA ", "")

    names = [short(document, path) for path, document in loaded]
    return [name if names.count(name) == 1 else f"{name} ({path.stem})" for name, (path, _) in zip(names, loaded)]


def results_and_matrices(paths: Sequence[Path], command: str) -> tuple[list[tuple[str, dict]], list[dict]]:
    """Result files, and compat matrices (smbench compat --format json) among them."""
    results_paths, matrices = [], []
    for path in paths:
        try:
            head = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SmbenchError(f"no such file: {path}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SmbenchError(f"{path}: not a JSON result file ({exc})") from None
        if isinstance(head, dict) and str(head.get("schema", "")).startswith(("smbench.compat/", "smbench.scan/")):
            matrices.append(head)
        else:
            results_paths.append(path)
    return (load_all(results_paths, command) if results_paths else []), matrices
