"""Reading the files the readers (export, compare, plot, report) are given: result files,
each with a short label for its column, and compat or scan matrices beside them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from smbench import origin
from smbench.errors import SmbenchError


def load_all(paths: Sequence[Path]) -> list[tuple[str, dict]]:
    from smbench.results import load

    if not paths:
        raise SmbenchError("name at least one result file")
    loaded = [(Path(p), load(Path(p))) for p in paths]
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


def results_and_matrices(paths: Sequence[Path]) -> tuple[list[tuple[str, dict]], list[dict]]:
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
    return (load_all(results_paths) if results_paths else []), matrices
