# The two commands of the README: `make bench` and `make test`. Each creates .venv,
# installs smbench with every dependency from pip (the CUDA tools included), and runs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
OUT    ?= out

.PHONY: install bench test test-gpu gpu-check compat-benchmark check-aarch64-wheels check-macos-wheels clean

# The mlx extra is installed apart: MLX's Linux wheels need glibc 2.35 or newer (Ubuntu 22.04,
# Debian 12, RHEL 10); on an older system everything but --backend mlx works and its tests skip.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,collectives]'
	$(BIN)/python -m pip install --quiet -e '.[mlx]' || \
	  echo "smbench: the mlx extra did not install here (MLX's Linux wheels need glibc 2.35 or newer); everything but --backend mlx works"
	touch $(STAMP)

install: $(STAMP)

# The main job (smbench bench): the environment check; the quick suite on the GPU if there
# is one, else on the CPU reference path; the compile matrix of every kernel over every
# target, built once; a report beside the published devices. Progress while it works, then
# one screen of what the machine did; every table, the matrix and the report are in $(OUT)/.
bench: install
	$(BIN)/smbench bench --out $(OUT)

# The whole suite spreads over the cores (pytest-xdist, a test file per worker: tests/conftest.py);
# the compile matrix is built once per run into a cache every worker shares. The 25 slowest
# tests are listed at the end, so a test that grows slow shows in CI's output.
test: install
	$(BIN)/python -m pytest -q --durations=25

# On the GPU machine: its own python3, nothing installed, the package from src/.
# SMBENCH_REQUIRE_GPU=1: a GPU test that cannot run there fails instead of skipping.
test-gpu:
	SMBENCH_REQUIRE_GPU=1 PYTHONPATH=src python3 -m pytest -q -m gpu -p no:cacheprovider

# The one command for a lent GPU machine (its own python3, nothing installed): preflight
# (missing Python modules, one line), doctor, prebuild (every kernel, on every core), selftest,
# the GPU tests, the quick suite on the GPU; each step under its own time limit (SIGINT keeps
# what finished; under 8 minutes in all), at most 8 files in OUT, a summary last. OUT must be empty.
gpu-check:
	PYTHONPATH=src python3 -m smbench.gpu_check --out $(if $(filter command line,$(origin OUT)),$(OUT),out/gpu-check)

compat-benchmark: install
	$(BIN)/python benchmarks/compat_speed.py

# The requirements a platform installs (`make bench` and `make test` install the collectives and
# mlx extras too), their markers evaluated for that platform: pip's --platform does not change how
# markers evaluate, so they are evaluated here. $(1): the marker environment, $(2): the extras.
requirements = $(BIN)/python -c "import tomllib; from packaging.requirements import Requirement as R; \
  p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
  reqs = map(R, p['dependencies'] + [r for e in $(2) for r in p['optional-dependencies'][e]]); \
  print('\n'.join(r.name + ('[' + ','.join(sorted(r.extras)) + ']' if r.extras else '') + str(r.specifier) \
                  for r in reqs if r.marker is None or r.marker.evaluate($(1))))"

# Downloads (without installing) each requirement's wheel for CPython 3.12 on the platform;
# a requirement with extras (mlx[cpu]) brings the wheels of those extras too.
download = while read -r requirement; do \
	  case "$$requirement" in *\[*) deps="";; *) deps="--no-deps";; esac; \
	  $(BIN)/python -m pip download --quiet $$deps --only-binary=:all: --python-version 3.12 $(1) \
	    -d $(OUT)/$(2) "$$requirement" || { echo "no wheel in $(2): $$requirement"; exit 1; }; \
	done; ls $(OUT)/$(2)

# The DGX Spark is aarch64: every dependency `make bench` installs must have a wheel for it.
AARCH64_ENV = {'platform_system': 'Linux', 'sys_platform': 'linux', 'platform_machine': 'aarch64', 'python_version': '3.12'}
AARCH64_PLATFORMS = --platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64 --platform manylinux_2_35_aarch64
check-aarch64-wheels: install
	$(call requirements,$(AARCH64_ENV),('collectives', 'mlx')) | $(call download,$(AARCH64_PLATFORMS),aarch64-wheels)

# A Mac installs smbench[mlx]: each dependency left for macOS (the CUDA wheels drop out by their
# markers) must have a macOS arm64 wheel for CPython 3.12.
MACOS_ENV = {'platform_system': 'Darwin', 'sys_platform': 'darwin', 'platform_machine': 'arm64', 'python_version': '3.12'}
check-macos-wheels: install
	$(call requirements,$(MACOS_ENV),('mlx',)) | $(call download,--platform macosx_14_0_arm64,macos-wheels)

clean:
	rm -rf $(VENV) $(OUT) build dist .pytest_cache
