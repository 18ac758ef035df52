# The two commands of the README: `make bench` and `make test`. Each creates .venv,
# installs smbench with every dependency from pip (the CUDA tools included), and runs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
OUT    ?= out

.PHONY: install bench test test-gpu compat-benchmark clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The main job. No GPU yet in this release's bench: the environment check, then the
# compile matrix of every kernel over every target (GPU or not), written to $(OUT)/.
bench: install
	$(BIN)/smbench doctor
	$(BIN)/smbench compat
	$(BIN)/smbench compat --format json --output $(OUT)/compat.json
	$(BIN)/smbench compat --format md --output $(OUT)/compat.md
	$(BIN)/python benchmarks/compat_speed.py

test: install
	$(BIN)/python -m pytest -q

# On the GPU machine: its own python3, nothing installed, the package from src/.
test-gpu:
	PYTHONPATH=src python3 -m pytest -q -m gpu -p no:cacheprovider

compat-benchmark: install
	$(BIN)/python benchmarks/compat_speed.py

clean:
	rm -rf $(VENV) $(OUT) build dist .pytest_cache
