"""Progress where no bar can be drawn (a pipe, a log, CI): a line when a family starts and
about every 10 s, what is done of what is planned and the time; for run, rerun and bench."""

from __future__ import annotations

import io
import re
from types import SimpleNamespace

from conftest import run_cli_here
from test_run import TINY

from smbench.cli import progress

LINE = re.compile(r"^smbench (run|rerun): (\w+|finished): (\d+) of (\d+) cases done, \d+:\d\d elapsed$")


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_a_line_per_family_and_one_about_every_ten_seconds():
    clock, out = Clock(), io.StringIO()
    lines = progress.Lines("smbench run", "planning", "cases", stream=out, every=10, clock=clock)
    on_case = progress.on_case(lines.update)
    cases = [SimpleNamespace(family=family, label=f"{family} {n}") for family in ("stream", "peak") for n in range(4)]
    for number, case in enumerate(cases):
        clock.now += 4  # four seconds a case: a line at most every ten
        on_case(case, number, len(cases))
    clock.now += 25
    lines.tick()  # the timer thread's call during a long case: where things stand
    lines.tick()  # and nothing more until ten seconds later
    said = out.getvalue().splitlines()
    assert said == ["smbench run: stream: 0 of 8 cases done, 0:04 elapsed",
                    "smbench run: stream 3: 3 of 8 cases done, 0:16 elapsed",
                    "smbench run: peak: 4 of 8 cases done, 0:20 elapsed",
                    "smbench run: peak 3: 7 of 8 cases done, 0:32 elapsed",
                    "smbench run: peak 3: 7 of 8 cases done, 0:57 elapsed"]


def test_a_piped_run_and_rerun_say_where_they_are(tmp_path):
    """In-process the output is no terminal, as in `smbench run | tee log`."""
    suite = tmp_path / "tiny.toml"
    suite.write_text(TINY)
    code, _, err = run_cli_here("run", "--backend", "cpu", "--suite", str(suite), "--only", "stream,launch",
                                "--out", str(tmp_path / "a"))
    assert code == 0, err
    said = [LINE.match(line) for line in err.splitlines() if LINE.match(line)]
    assert [m.group(2) for m in said] == ["stream", "launch", "finished"], err
    assert said[-1].group(3) == said[-1].group(4) != "0"  # every case planned was done
    (first,) = (tmp_path / "a").glob("*.json")
    code, out, err = run_cli_here("rerun", str(first), "--out", str(tmp_path / "b"))
    assert code == 0, err
    said = [LINE.match(line) for line in err.splitlines() if LINE.match(line)]
    assert [(m.group(1), m.group(2)) for m in said] == [("rerun", "stream"), ("rerun", "launch"),
                                                        ("rerun", "finished")], err
    assert out.startswith(f"rerun of {first} -> ")
