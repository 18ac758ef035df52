"""A wheel built from the checkout carries kernels/ and benchmarks/ and runs from anywhere."""

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile

import pytest

from conftest import ROOT


@pytest.mark.slow
def test_wheel_runs_compat_from_another_directory(tmp_path, builtin_matrix):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(ROOT)],
                   check=True, capture_output=True, timeout=600)
    wheel = next(dist.glob("smbench-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "smbench/_data/kernels/mma.cu" in names and "smbench/_data/kernels/smbench_arch.cuh" in names
    assert "smbench/_data/benchmarks/compat_speed.py" in names

    # A fresh venv that sees this one's packages (the CUDA wheels, without downloading
    # them again) through a plain path entry, which does not run the editable install's
    # .pth hook: only the wheel's smbench is importable there.
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)  # this venv's pip installs into it (--python)
    python = env_dir / "bin" / "python"
    own_site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True, check=True).stdout.strip()
    outer_site = sysconfig.get_paths()["purelib"]
    with open(os.path.join(own_site, "outer-packages.pth"), "w") as handle:
        handle.write(outer_site + "\n")
    # cuda.pathfinder looks for the NVIDIA wheels' files in site-packages itself.
    os.symlink(os.path.join(outer_site, "nvidia"), os.path.join(own_site, "nvidia"))
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    "--no-index", str(wheel)],
                   check=True, capture_output=True, timeout=600)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # The test run's cache (builtin_matrix filled it): the kernels are found and hashed from the
    # wheel's own copy, and their compiles, already checked, are not made again.
    done = subprocess.run([str(env_dir / "bin" / "smbench"), "compat", "--targets", "sm_121,sm_121a",
                           "--format", "json"], cwd=elsewhere, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert '"mma_nvfp4_f32acc"' in done.stdout and '"stream_copy_f32_v16"' in done.stdout
    located = subprocess.run([str(python), "-c", "import smbench.paths as p; print(p.kernels_dir())"],
                             cwd=elsewhere, capture_output=True, text=True, env=env)
    assert "_data" in located.stdout and str(env_dir) in located.stdout
