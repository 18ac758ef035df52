"""The command line as a new user meets it: a typo is one line naming the nearest word, one
option name for an output path, a description in every --help, device names where a
target is asked for."""

from __future__ import annotations

import pytest
from conftest import run_cli_here


@pytest.mark.parametrize("argv, said", [
    (["--set", "stream.largst_mib=3"],
     "--set 'stream.largst_mib=3': [stream] has no setting 'largst_mib' (did you mean 'largest_mib'?)"),
    (["--set", "timing.warmpu=2"], "--set 'timing.warmpu=2': [timing] has no setting 'warmpu' (did you mean 'warmup'?)"),
    (["--set", "timming.warmup=3"], "--set 'timming.warmup=3': no section [timming] (did you mean 'timing'?)"),
    (["--only", "strem"], "unknown family 'strem' (did you mean 'stream'?)"),
    (["--suite", "quik"], "unknown suite 'quik' (did you mean 'quick'?)"),
])
@pytest.mark.parametrize("command", ["run", "bench"])
def test_a_typo_is_one_line_naming_the_nearest(command, argv, said, tmp_path):
    if command == "bench" and argv[0] == "--only":
        return  # bench runs every family: it has no --only
    code, out, err = run_cli_here(command, "--backend", "cpu", *argv, "--out", str(tmp_path / "never"))
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"smbench {command}: error: {said}")
    assert not (tmp_path / "never").exists()  # bad input costs nothing, not even a directory
