"""Writing files so that a reader never sees half of one."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

# Read once, at import (single-threaded): os.umask can only be read by setting it, which
# would race with the compile threads that write cache files.
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_json(path: Path, document, **dump_options) -> None:
    """Write JSON to a temporary file beside `path`, then rename it over `path`: a reader
    (or a run interrupted mid-write) sees the old file or the new one, never a torn one.
    Two writers racing on one path both succeed; the last rename wins."""
    _atomic_write(path, lambda handle: json.dump(document, handle, **dump_options))


def atomic_write_text(path: Path, text: str) -> None:
    """atomic_write_json for text already made."""
    _atomic_write(path, lambda handle: handle.write(text))


def _atomic_write(path: Path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
    try:
        # mkstemp makes the file private (0600); a result or cache file is as readable as any other.
        os.chmod(tmp, 0o666 & ~_UMASK)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
