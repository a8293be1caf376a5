# The two commands a newcomer needs (see README.md):
#   make reproduce   set up .venv and run every chapter notebook on the built-in synthetic data
#   make test        set up .venv and run the unit tests plus nbval over the committed notebooks
# Everything else here is a helper for those two or for maintainers.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.emhnet-installed

.PHONY: setup reproduce test unit nbval lint refresh student bench cluster-check clean-runs

setup: $(STAMP)

# Re-install only when the dependency list changes; reuses an existing .venv.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -e ".[test]"
	@touch $(STAMP)

reproduce: setup
	EMHNET_BATCH=1 $(BIN)/emhnet notebooks run

test: setup
	bash scripts/run_tests.sh $(BIN)

unit: setup
	$(BIN)/python -m pytest tests

nbval: setup
	EMHNET_BATCH=1 $(BIN)/python -m pytest --nbval --nbval-current-env \
	    --nbval-sanitize-with .ci/nbval_sanitize.cfg notebooks/[0-9][0-9]_*.ipynb

lint: setup
	$(BIN)/ruff check .

# Re-execute notebooks in place at defaults to refresh their stored outputs: make refresh [NB=notebooks/00_overview.ipynb]
refresh: setup
	EMHNET_BATCH=1 $(BIN)/emhnet notebooks refresh $(NB)

# Regenerate the student copies in notebooks/student/ from the solution chapters (see docs/teachers.md)
student: setup
	$(BIN)/emhnet student

# Speed and size benchmarks (minutes on 2 cores; not part of the tests): ratios are measured in one run
bench: setup
	$(BIN)/python benchmarks/bench_synth.py
	$(BIN)/python benchmarks/bench_preprocess.py
	$(BIN)/python benchmarks/bench_models.py --out runs/bench_models.json
	$(BIN)/python benchmarks/bench_loso.py --baselines --profile
	$(BIN)/python benchmarks/bench_vectorized.py --sweep --profile
	$(BIN)/python benchmarks/bench_seeds.py --gather

# The SLURM job array on a real one-node SLURM on localhost, merged result == one process (root; about 1-2 min;
# installs slurm-wlm and munge with apt when missing; docs/researchers.md)
cluster-check: setup
	bash scripts/cluster_check.sh $(BIN)

clean-runs:
	rm -rf runs
