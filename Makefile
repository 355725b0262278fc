# Two commands set everything up on a fresh machine with Python 3.10+ and make:
#   make demo   creates .venv, installs segaug, and runs it on sample_data/
#   make test   runs the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
OUT ?= out

.PHONY: install install-optional azurite demo test lint golden op-table bench bench-quick sample-data preview cpu-roots clean

install: $(INSTALLED)

$(INSTALLED): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $@

# Packages segaug does not need but some tests use, kept out of `make install`: the CPU build of PyTorch
# (AugmentedPairs in a DataLoader) and pandas (the manifest as a table). Without them those tests are
# skipped, saying so. Where the package index is PyPI itself, add
# TORCH_INDEX=https://download.pytorch.org/whl/cpu for the CPU build.
OPTIONAL := torch pandas
TORCH_INDEX ?=
install-optional: $(INSTALLED)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt \
		$(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) $(OPTIONAL)

demo: $(INSTALLED)
	$(BIN)/segaug expand recipes/default.yaml sample_data $(OUT)/
	@echo "Augmented pairs: $(OUT)/images and $(OUT)/masks; what was done to each: $(OUT)/manifest.csv"
	@echo "Verify it: $(BIN)/segaug check recipes/default.yaml sample_data $(OUT)/"

test: $(INSTALLED) azurite
	$(BIN)/python -m pytest -q

# Azurite, Microsoft's Azure Storage emulator, that the az:// tests start on 127.0.0.1: installed once
# into .services/azurite from npm; without node and npm it is not installed and those tests are skipped.
AZURITE_VERSION := 3.37.0
AZURITE := .services/azurite/node_modules/.bin/azurite-blob

azurite: $(AZURITE)

$(AZURITE):
	@if command -v npm >/dev/null; then \
	  npm install --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
	    azurite@$(AZURITE_VERSION) --prefix .services/azurite; \
	else echo "npm not found: Azurite is not installed, and the az:// tests will be skipped"; fi

# An aarch64 Python with segaug's pinned wheels, which tests/test_cpu_bytes.py runs under qemu-aarch64
# (Debian's qemu-user); downloads about 70 MB. CI builds it; without it that comparison is skipped.
cpu-roots: $(INSTALLED)
	PYTHON=$(BIN)/python scripts/aarch64_root.sh .cpu-roots/aarch64

# The same checks as .pre-commit-config.yaml: lint rules, then formatting (checked, never rewritten here),
# then types (mypy, strict on the public interface, the storage layer and the engine: the files listed in pyproject.toml).
LINTED := segaug_cli tests scripts benchmarks
lint: $(INSTALLED)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

# Pin the bytes every recipe writes on sample_data/ anew: only after a change meant to alter outputs.
golden: $(INSTALLED)
	$(BIN)/python tests/golden_outputs.py

# Rewrite the op table of docs/recipes.md from the op records, after adding or changing an op.
op-table: $(INSTALLED)
	$(BIN)/python scripts/op_table.py --write

# CamVid, when the optional shared data sits beside the clone; else a generated CamVid-like set.
BENCH_DATA := $(wildcard ../shared/data/camvid)

bench: $(INSTALLED)
	$(BIN)/python benchmarks/bench.py $(if $(BENCH_DATA),--dataset $(BENCH_DATA))

bench-quick: $(INSTALLED)
	$(BIN)/python benchmarks/bench.py --quick

sample-data: $(INSTALLED)
	$(BIN)/python scripts/make_sample_data.py

# The README's picture: 3 pairs x (source + 3 copies) at 200 px is 830 px wide, so GitHub shows it
# unscaled (captions stay legible) and the file stays under 600 KB.
preview: $(INSTALLED)
	$(BIN)/segaug preview recipes/default.yaml sample_data -o docs/preview.png --pairs 3 --samples 3 --tile 200

clean:
	rm -rf $(VENV) $(OUT) build dist *.egg-info .pytest_cache .ruff_cache .hypothesis .cpu-roots .services
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
