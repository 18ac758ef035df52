"""The one exception type the CLI turns into a one-line error and exit status 2."""


class SmbenchError(Exception):
    """Bad input or a missing tool: shown to the user as one line, never as a traceback."""

    exit_code = 2
