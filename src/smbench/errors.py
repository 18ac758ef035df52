"""The one exception type the CLI turns into a one-line error and exit status 2."""


def one_line(exc: BaseException) -> str:
    """An exception as one line of text, its type first: what a failed row's reason says."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


class SmbenchError(Exception):
    """Bad input or a missing tool: shown to the user as one line, never as a traceback."""

    exit_code = 2
