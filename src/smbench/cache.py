"""A content-addressed on-disk cache for compiler output and SASS summaries.

Each entry is one JSON file named by the SHA-256 of its key. Writes go to a
temporary file in the same directory and are renamed into place, so a reader sees
a whole entry or none, and two runs writing the same key at once both succeed.
Every entry carries a checksum of its payload: a torn or corrupted file is treated
as a miss, removed, and rebuilt.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from pathlib import Path
from typing import Any, Callable

from smbench.fsutil import atomic_write_json
from smbench.paths import cache_dir

FORMAT_VERSION = 1


def key_of(*parts: Any) -> str:
    """A stable hash of JSON-serialisable parts (bytes are hashed by content)."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, bytes):
            digest.update(b"b:" + hashlib.sha256(part).digest())
        else:
            digest.update(b"j:" + json.dumps(part, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def _encode(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"__bytes__": base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__bytes__"}:
            return base64.b64decode(value["__bytes__"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


class Cache:
    """Entries under root/v<FORMAT_VERSION>/<namespace>/<key[:2]>/<key>.json."""

    def __init__(self, root: Path | None = None, enabled: bool = True):
        self.root = Path(root) if root is not None else cache_dir()
        self.enabled = enabled
        self.hits = 0
        self.misses = 0
        self.corrupt = 0
        self._lock = threading.Lock()  # the counters are shared by compile threads

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)

    def _path(self, namespace: str, key: str) -> Path:
        return self.root / f"v{FORMAT_VERSION}" / namespace / key[:2] / f"{key}.json"

    def get(self, namespace: str, key: str) -> Any | None:
        if not self.enabled:
            return None
        path = self._path(namespace, key)
        try:
            raw = path.read_bytes()
        except OSError:
            self._count("misses")
            return None
        try:
            document = json.loads(raw)
            payload = document["payload"]
            checksum = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
            if document.get("key") != key or document.get("sha256") != checksum:
                raise ValueError("checksum mismatch")
            value = _decode(payload)
        except (ValueError, KeyError, TypeError, AttributeError, json.JSONDecodeError):
            self._count("corrupt")
            self._count("misses")
            try:
                path.unlink()
            except OSError:
                pass
            return None
        self._count("hits")
        return value

    def put(self, namespace: str, key: str, value: Any) -> None:
        if not self.enabled:
            return
        path = self._path(namespace, key)
        payload = _encode(value)
        document = {
            "key": key,
            "sha256": hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest(),
            "payload": payload,
        }
        try:
            atomic_write_json(path, document)
        except OSError:
            # A read-only or full cache directory costs speed, never a result.
            pass

    def get_or_compute(self, namespace: str, key: str, compute: Callable[[], Any]) -> tuple[Any, bool]:
        """(value, was_cached)."""
        cached = self.get(namespace, key)
        if cached is not None:
            return cached, True
        value = compute()
        self.put(namespace, key, value)
        return value, False
