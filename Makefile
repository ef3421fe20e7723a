# The README's two commands: `make demo` and `make test`. Both create (or reuse) the virtual
# environment in $(VENV) and install the package with its test and serve extras first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 3
export TF_ENABLE_ONEDNN_OPTS ?= 1
# Test processes (pytest-xdist): the suite takes ~12 CPU-minutes, ~7 minutes wall on 2 cores with 2.
TEST_WORKERS ?= 2

.PHONY: demo test bench install clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "Python 3.10+ is required"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test,serve]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m colorization_tf.demo $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile $(ARGS)

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
