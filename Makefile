# pads: all setup lives here. `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := $(CURDIR)/.venv
STAMP := $(VENV)/.pads-installed
# tch finds PyTorch through the venv's python (torch-sys runs `python` when VIRTUAL_ENV is set).
TORCH_ENV := VIRTUAL_ENV=$(VENV) PATH=$(VENV)/bin:$$PATH LIBTORCH_USE_PYTORCH=1
CARGO_FLAGS ?= --release
BIN := target/release/pads

.PHONY: setup build demo test bench clean-venv

setup: $(STAMP)

$(STAMP): requirements.txt
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@echo "make setup: installing PyTorch and the other pinned packages into $(VENV): about 4 GB to download, several minutes; pip shows its progress below."
	$(VENV)/bin/python -m pip install --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

build: $(STAMP)
	$(TORCH_ENV) cargo build $(CARGO_FLAGS)

demo: build
	$(BIN) demo --data-root data --out runs/demo

test: $(STAMP)
	$(TORCH_ENV) PADS_PYTHON=$(VENV)/bin/python cargo test $(CARGO_FLAGS) -- --test-threads=1

bench: build
	$(VENV)/bin/python -m pip install --disable-pip-version-check -q -r requirements-bench.txt
	bash bench/run.sh

clean-venv:
	rm -rf $(VENV)
