"""Shared test set-up: one compile cache for the session, and the GPU marker's skip rule."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KERNELS = ROOT / "kernels"


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory):
    """Every compile in the test session shares one fresh cache: cold once, warm after,
    and never the user's own cache directory."""
    path = tmp_path_factory.mktemp("smbench-cache")
    old = os.environ.get("SMBENCH_CACHE_DIR")
    os.environ["SMBENCH_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("SMBENCH_CACHE_DIR", None)
    else:
        os.environ["SMBENCH_CACHE_DIR"] = old


def _gpu_absent_reason() -> str | None:
    try:
        from smbench.gpuinfo import list_gpus

        gpus, why = list_gpus()
    except Exception as exc:  # noqa: BLE001
        return f"no GPU: {exc}"
    if not gpus:
        return f"no GPU: {why}"
    try:
        import cupy  # noqa: F401
    except Exception as exc:  # noqa: BLE001
        return f"GPU present but CuPy unusable: {exc}"
    return None


def _sass_reader_missing() -> str:
    try:
        from smbench import sass

        return sass.reader_missing()
    except Exception as exc:  # noqa: BLE001
        return f"no SASS reader: {exc}"


def _skip_tests_that_read_sass(items) -> None:
    """Tests marked needs_sass read SASS with cuobjdump: where there is none (a machine with a
    system CUDA lacking it), they skip with the reason instead of failing."""
    marked = [item for item in items if item.get_closest_marker("needs_sass") is not None]
    reason = _sass_reader_missing() if marked else ""
    for item in marked if reason else []:
        item.add_marker(pytest.mark.skip(reason=f"SASS unchecked here: {reason}"))


def pytest_collection_modifyitems(config, items):
    _skip_tests_that_read_sass(items)
    # By marker, not keyword: a keyword also matches a folder's name (a checkout in .../gpu/).
    gpu_items = [item for item in items if item.get_closest_marker("gpu") is not None]
    if not gpu_items:
        return
    reason = _gpu_absent_reason()
    if reason:
        # `make test-gpu` sets SMBENCH_REQUIRE_GPU: there, a GPU test that would skip is a
        # failure, so a broken set-up on the GPU machine cannot pass as "all skipped".
        if os.environ.get("SMBENCH_REQUIRE_GPU") == "1":
            config.stash[_REQUIRED_GPU_MISSING] = reason
            return
        for item in gpu_items:
            item.add_marker(pytest.mark.skip(reason=reason))


_REQUIRED_GPU_MISSING = pytest.StashKey[str]()


def pytest_runtest_setup(item):
    reason = item.config.stash.get(_REQUIRED_GPU_MISSING, None)
    if reason and "gpu" in item.keywords:
        pytest.fail(f"SMBENCH_REQUIRE_GPU=1, but {reason}", pytrace=False)


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None):
    """Run `python -m smbench ...` in a subprocess, as a user would: (returncode, stdout, stderr)."""
    import subprocess

    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env.update(env or {})
    done = subprocess.run([sys.executable, "-m", "smbench", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=full_env, timeout=600)
    return done.returncode, done.stdout, done.stderr


def run_cli_here(*args: str, env: dict | None = None):
    """`smbench ...` in this process: (exit status, stdout, stderr), as run_cli gives, without
    the second or two a fresh interpreter spends importing NumPy, pandas and matplotlib. For
    tests of what a command says and returns; run_cli stays for what needs a real process.
    `env`: variables set for the call only."""
    import contextlib
    import io

    from smbench import cli

    saved = {key: os.environ.get(key) for key in env or {}}
    os.environ.update(env or {})
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(list(args))
            except SystemExit as exit_:  # argparse's own errors
                code = exit_.code if isinstance(exit_.code, int) else 2
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return code, out.getvalue(), err.getvalue()
