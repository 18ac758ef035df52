"""The one exception type the CLI turns into a one-line error and exit status 2."""


def one_line(exc: BaseException) -> str:
    """An exception as one line of text, its type first: what a failed row's reason says."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def cannot_write(path, exc: OSError | None = None, why: str = "") -> "SmbenchError":
    """The one-line error for a file or folder that cannot be written: the path and the system's
    reason (or `why`)."""
    reason = why or (exc.strerror or str(exc) if exc is not None else "")
    return SmbenchError(f"cannot write {path}: {reason}")


class SmbenchError(Exception):
    """Bad input or a missing tool: shown to the user as one line, never as a traceback."""

    exit_code = 2
