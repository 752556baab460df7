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

test: $(STAMP)
	$(PY) -m pytest -q tests

reproduce: $(STAMP)
	$(PY) -m reproduce

# timing, not tests: small settings, CPU; see benchmarks/README.md (pyhessian: pip install -e '.[bench]')
bench: $(STAMP)
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) benchmarks/bench_hawq.py --batch 4 --image-size 112 --steps 6 --warmup 2 --hessian-batch 16 --probes 5
	$(PY) benchmarks/bench_haq.py --episodes 2 --train_size 128 --device cpu
	$(PY) benchmarks/bench_hmq.py --network tiny_resnet --batches 15
	$(PY) benchmarks/bench_proqha.py --lam 2 --batch 16
	$(PY) benchmarks/bench_ompq.py --model resnet18 --batch 32 --size 224 --repeat 3

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache runs
