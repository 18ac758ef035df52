"""What a command says while it works, on stderr: a transient bar at a terminal; plain lines
anywhere else (`smbench run | tee log`, `make bench` in CI, `2>&1 | cat`), where a bar cannot
be drawn and a blank screen for minutes reads as a hang. A line when a new section (a
family) starts and about every 10 s between: what is done of what is planned, and the time."""

from __future__ import annotations

import contextlib
import sys
import threading
import time

from rich.console import Console

EVERY_S = 10.0


def _clock_text(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}:{seconds:02d}"


class Lines:
    """Progress as lines: update() as rich's Progress.update takes it, plus `section` (a family);
    tick() says where things stand when `every` seconds passed since the last line."""

    def __init__(self, command: str, description: str, unit: str = "", stream=None, every: float = EVERY_S,
                 clock=time.monotonic):
        self.command, self.unit, self.stream, self.every, self.clock = command, unit, stream, every, clock
        self.started = self.last = clock()
        self.completed, self.total, self.description, self.section = 0, None, description, None
        self.lock = threading.Lock()
        self.said = 0

    def update(self, completed=None, total=None, description=None, advance=None, section=None, **_) -> None:
        with self.lock:
            if total is not None:
                self.total = total
            if completed is not None:
                self.completed = completed
            if advance:
                self.completed += advance
            if description is not None:
                self.description = description
            if section is not None and section != self.section:
                self.section = section
                self._say(section)
                return
        self.tick()

    def tick(self) -> None:
        with self.lock:
            if self.clock() - self.last >= self.every:
                self._say(self.description)

    def _say(self, what: str) -> None:
        """One line (called with the lock held)."""
        self.last = self.clock()
        self.said += 1
        planned = f" of {self.total}" if self.total is not None else ""
        line = (f"{self.command}: {what}: {self.completed}{planned}{' ' + self.unit if self.unit else ''} done, "
                f"{_clock_text(self.last - self.started)} elapsed")
        try:
            print(line, file=self.stream or sys.stderr, flush=True)
        except (OSError, ValueError):  # the reader went away; the work goes on
            pass


@contextlib.contextmanager
def progress(description: str, command: str = "smbench", unit: str = ""):
    """Yields update(completed=, total=, description=, advance=, section=): a bar on stderr at
    a terminal, else lines (Lines: '{command}: {section or description}: 12 of 85 {unit} done,
    0:35 elapsed') with a timer thread that keeps them coming during a long step."""
    console = Console(stderr=True)
    if not console.is_terminal:
        lines = Lines(command, description, unit)
        stop = threading.Event()

        def keep_saying() -> None:
            while not stop.wait(1.0):
                lines.tick()

        timer = threading.Thread(target=keep_saying, name="smbench-progress", daemon=True)
        timer.start()
        try:
            yield lines.update
        finally:
            stop.set()
        with lines.lock:  # when the work ended without an exception and said anything: the total and the time
            if lines.said:  # (a compile of a few seconds stays as quiet in a pipe as before)
                lines.completed = lines.total if lines.total is not None else lines.completed
                lines._say("finished")
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task(description, total=None)
        yield lambda section=None, **changes: bar.update(task, **changes)


def on_case(update):
    """The run's per-case callback (case, cases done, cases planned) as progress updates, the
    case's family as the section."""
    return lambda case, number, total: update(total=total, completed=number, description=case.label,
                                              section=case.family)
