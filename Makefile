# The two commands of the README: `make bench` and `make test`. Each creates .venv,
# installs smbench with every dependency from pip (the CUDA tools included), and runs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
OUT    ?= out

.PHONY: install bench test test-gpu gpu-check compat-benchmark check-aarch64-wheels check-macos-wheels clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,collectives,mlx]'
	touch $(STAMP)

install: $(STAMP)

# The main job (smbench bench): the environment check; the quick suite on the GPU if there
# is one, else on the CPU reference path; the compile matrix of every kernel over every
# target, built once; a report beside the published devices. Progress while it works, then
# one screen of what the machine did; every table, the matrix and the report are in $(OUT)/.
bench: install
	$(BIN)/smbench bench --out $(OUT)

test: install
	$(BIN)/python -m pytest -q

# On the GPU machine: its own python3, nothing installed, the package from src/.
# SMBENCH_REQUIRE_GPU=1: a GPU test that cannot run there fails instead of skipping.
test-gpu:
	SMBENCH_REQUIRE_GPU=1 PYTHONPATH=src python3 -m pytest -q -m gpu -p no:cacheprovider

# The one command for a lent GPU machine (its own python3, nothing installed): doctor,
# selftest, the GPU tests, the quick suite on the GPU; each step under its own time limit
# (SIGINT keeps what finished), at most 8 files in OUT, a summary last. OUT must be empty.
gpu-check:
	PYTHONPATH=src python3 -m smbench.gpu_check --out $(if $(filter command line,$(origin OUT)),$(OUT),out/gpu-check)

compat-benchmark: install
	$(BIN)/python benchmarks/compat_speed.py

# The DGX Spark is aarch64: every runtime dependency must have a wheel for it.
# Downloads (without installing) each dependency's aarch64 wheel for CPython 3.12.
check-aarch64-wheels: install
	$(BIN)/python -c "from importlib.metadata import requires; print('\n'.join(r for r in requires('smbench') if 'extra ==' not in r))" | \
	while read -r requirement; do \
	  $(BIN)/python -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
	    --platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64 \
	    -d $(OUT)/aarch64-wheels "$$requirement" || { echo "no aarch64 wheel: $$requirement"; exit 1; }; \
	done; ls $(OUT)/aarch64-wheels

# A Mac installs smbench[mlx]: each dependency left for macOS (the markers evaluated as on an
# arm64 Mac: the CUDA wheels drop out) must have a macOS arm64 wheel for CPython 3.12.
# (pip's --platform does not change how markers evaluate, so they are evaluated here.)
MACOS_ENV = {'platform_system': 'Darwin', 'sys_platform': 'darwin', 'platform_machine': 'arm64', 'python_version': '3.12', 'extra': 'mlx'}
check-macos-wheels: install
	$(BIN)/python -c "import tomllib; from packaging.requirements import Requirement as R; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
	  print('\n'.join(r.name + str(r.specifier) for r in map(R, p['dependencies'] + p['optional-dependencies']['mlx']) if r.marker is None or r.marker.evaluate($(MACOS_ENV))))" | \
	while read -r requirement; do \
	  $(BIN)/python -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
	    --platform macosx_14_0_arm64 -d $(OUT)/macos-wheels "$$requirement" || { echo "no macOS arm64 wheel: $$requirement"; exit 1; }; \
	done; ls $(OUT)/macos-wheels

clean:
	rm -rf $(VENV) $(OUT) build dist .pytest_cache
