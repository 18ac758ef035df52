"""What users of nvbench, pytest-benchmark and llama-bench expect of the command line:
run --list, --set, --device, and one clear line for an empty --only or an --out that is a file."""

from __future__ import annotations

import os

import pytest

from smbench import cli, suites


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_run_list_prints_the_plan_and_an_estimate_without_running(tmp_path, capsys):
    code, out, err = _run(capsys, "run", "--backend", "cpu", "--list", "--only", "stream,gemm",
                          "--set", "stream.largest_mib=1", "--out", str(tmp_path / "never"))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("suite quick on CPU") and "cases" in lines[0]
    assert any(line.startswith("stream: ") and "about" in line for line in lines)
    assert any(line.startswith("gemm: ") for line in lines) and not any(line.startswith("peak:") for line in lines)
    assert "  triad f32 16B 1024 KiB host" in lines  # the cap from --set holds
    assert lines[-1].startswith("estimated ")
    assert not (tmp_path / "never").exists()  # nothing run, nothing written


def test_set_reaches_the_run_and_its_result_file(tmp_path, capsys):
    code, _, err = _run(capsys, "run", "--backend", "cpu", "--only", "stream", "--set", "stream.largest_mib=1",
                        "--set", "stream.operations=[\"copy\"]", "--out", str(tmp_path))
    assert code == 0, err
    import json

    document = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert document["suite_config"]["stream"]["operations"] == ["copy"]
    assert {r["benchmark"] for r in document["records"]} == {"copy"}


@pytest.mark.parametrize("argv, said", [
    (["run", "--only", ""], "--only names no family"),
    (["run", "--only", " , "], "--only names no family"),
    (["run", "--set", "stream.widths=[3]"], "widths = [3] should be"),
    (["run", "--backend", "cpu", "--device", "0"], "--device 0: no such GPU here"),
])
def test_bad_options_are_one_line(capsys, argv, said):
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and said in err


@pytest.mark.parametrize("command", ["run", "selftest", "bench"])
def test_an_out_that_is_a_file_is_one_line(tmp_path, capsys, command):
    taken = tmp_path / "taken"
    taken.write_text("")
    code, _, err = _run(capsys, command, "--backend", "cpu", "--out", str(taken))
    assert code == 2 and "a file of that name exists" in err and len(err.strip().splitlines()) == 1


def test_device_counts_within_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    cli._select_device(1)
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "5"
    from smbench.errors import SmbenchError

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    with pytest.raises(SmbenchError, match="makes 1 visible"):
        cli._select_device(2)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    cli._select_device(2)
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "2"


def test_every_subcommand_and_option_has_help():
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    helped = {choice.dest for choice in commands._choices_actions if choice.help}
    assert helped == set(commands.choices), set(commands.choices) - helped
    for name, sub in commands.choices.items():
        for action in sub._actions:
            if action.dest not in ("help",):
                assert action.help, (name, action.dest)
    assert "quick" in suites.available()
