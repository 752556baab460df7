# Two commands on a fresh machine: `make test` and `make reproduce`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup test reproduce lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

# two pytest-xdist workers, one torch thread each (tests/conftest.py); a module's tests stay on one worker
test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadscope tests

reproduce: $(STAMP)
	$(PY) -m reproduce

# timing, not tests: small settings, CPU, 1 thread, interleaved sides, min and median of 5; see benchmarks/README.md
# (PyHessian for the Hessian comparison: the bench extra)
bench: $(STAMP)
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) benchmarks/bench_hawq.py --batch 8 --image-size 112 --repeats 5 --warmup 1 --hessian-batch 16 --probes 5
	$(PY) benchmarks/bench_haq.py --episodes 5 --train_size 128 --device cpu --which digits
	$(PY) benchmarks/bench_hmq.py --network tiny_resnet --batches 15 --repeats 5
	$(PY) benchmarks/bench_proqha.py --lam 2 --batch 16 --repeats 5
	$(PY) benchmarks/bench_ompq.py --model resnet18 --batch 32 --size 224 --repeats 5

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache runs
