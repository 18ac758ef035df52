from conftest import run_cli


def test_help_lists_the_commands():
    code, out, _ = run_cli("--help")
    assert code == 0
    for command in ("targets", "compat", "doctor"):
        assert command in out


def test_version():
    code, out, _ = run_cli("--version")
    assert code == 0 and out.startswith("smbench ")


def test_no_command_is_a_usage_error():
    code, _, err = run_cli()
    assert code == 2 and len(err.strip().splitlines()) == 1
