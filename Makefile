# pads: all setup lives here. `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := $(CURDIR)/.venv
STAMP := $(VENV)/.pads-installed
# tch finds PyTorch through the venv's python (torch-sys runs `python` when VIRTUAL_ENV is set).
TORCH_ENV := VIRTUAL_ENV=$(VENV) PATH=$(VENV)/bin:$$PATH LIBTORCH_USE_PYTORCH=1
CARGO_FLAGS ?= --release
BIN := target/release/pads

.PHONY: setup build python demo test bench clean-venv

setup: $(STAMP)

$(STAMP): requirements.txt requirements-python.txt
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@echo "make setup: installing PyTorch and the other pinned packages into $(VENV): about 4 GB to download, several minutes; pip shows its progress below."
	$(VENV)/bin/python -m pip install --disable-pip-version-check -r requirements.txt -r requirements-python.txt
	@touch $(STAMP)

build: $(STAMP)
	$(TORCH_ENV) cargo build $(CARGO_FLAGS)

# The Python package `pads` (python/: pyo3 extension over the library + python/pads/), built
# with maturin against the venv's torch and installed into the venv.
python: $(STAMP)
	rm -f target/wheels/pads-*.whl
	cd python && $(TORCH_ENV) PYO3_PYTHON=$(VENV)/bin/python $(VENV)/bin/maturin build $(CARGO_FLAGS) --quiet \
		--interpreter $(VENV)/bin/python --compatibility linux --auditwheel skip -o $(CURDIR)/target/wheels
	$(VENV)/bin/python -m pip install --disable-pip-version-check -q --no-deps --force-reinstall target/wheels/pads-0.1.0-*.whl

demo: build
	$(BIN) demo --data-root data --out runs/demo --overwrite

test: $(STAMP) python
	$(TORCH_ENV) PADS_PYTHON=$(VENV)/bin/python cargo test $(CARGO_FLAGS) -- --test-threads=1
	$(VENV)/bin/python -m pytest -q python/tests

bench: build python
	$(VENV)/bin/python -m pip install --disable-pip-version-check -q -r requirements-bench.txt
	bash bench/run.sh

clean-venv:
	rm -rf $(VENV)
