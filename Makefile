# Two commands for a fresh machine (see README):
#   make demo   set everything up, fetch MNIST, run the source texts' studies
#   make test   set everything up, run the linter and the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HASH   := $(shell cat pyproject.toml | cksum | cut -d' ' -f1)
RUN    := $(VENV)/.installed-run-$(HASH)
DEV    := $(VENV)/.installed-dev-$(HASH)

.PHONY: demo test lint bench notebooks system-deps clean

# the library and its command (numpy, matplotlib, rich, pooch, platformdirs)
$(RUN): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	rm -f $(VENV)/.installed-run-*
	touch $@

# plus pytest, hypothesis, ruff and torch==2.13.0 (CPU build) as the tests' reference oracle
$(DEV): $(RUN)
	$(BIN)/python -m pip install -q -e '.[dev]'
	# curvlinops-for-pytorch, the reference of tests/test_curvature_curvlinops.py, without its dependency
	# backpack-for-pytorch: that pulls a torchvision which wants another torch (a CUDA build of several GB);
	# curvlinops' HessianLinearOperator does not use it
	$(BIN)/python -m pip install -q --no-deps curvlinops-for-pytorch==3.0.1 einconv==0.1.0 einops==0.8.2 \
	  linear_operator==0.6.1 opt_einsum==3.4.0 tqdm==4.70.1
	rm -f $(VENV)/.installed-dev-*
	touch $@

# Debian packages the tests use: Chromium renders the HTML report in the browser test, and
# dataset-fashion-mnist provides Fashion-MNIST offline (/usr/share/datasets/fashion-mnist).
APT_PACKAGES := chromium dataset-fashion-mnist
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo "installing Debian packages:$$missing"; \
	    for try in 1 2; do apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq $$missing >/dev/null && break; sleep 5; done; \
	    for p in $$missing; do dpkg -s $$p >/dev/null 2>&1 || \
	      echo "WARNING: could not install $$p; the tests that need it are skipped (listed by pytest -rs)"; done; \
	  else echo "note: not root, cannot install$$missing; the tests that need them will say so"; fi; fi

demo: $(RUN)
	$(BIN)/mlplab data fetch mnist
	$(BIN)/mlplab lab run textbook --out lab-report
	@echo "mlplab is installed in $(BIN); to use it as \`mlplab ...\` (README, \"Using it\"), run: . $(VENV)/bin/activate"

lint: $(DEV)
	$(BIN)/ruff check src tests benchmarks

test: $(DEV) system-deps lint
	$(BIN)/python -m pytest -q -rs --durations=25

# every notebook of notebooks/ (jupytext py:percent), run headless in a fresh kernel; each asserts on its numbers
notebooks: $(DEV)
	$(BIN)/mlplab data fetch mnist
	$(BIN)/python scripts/run_notebooks.py

bench: $(DEV)
	$(BIN)/python benchmarks/train_step.py
	$(BIN)/python benchmarks/mnist_epoch.py
	$(BIN)/python benchmarks/optimizers_mnist.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
