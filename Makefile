# Two commands matter on a fresh machine: `make demo` and `make test`. Both create the venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)
# No Pulumi engine or cloud here: everything below runs offline.
export PULUMI_SKIP_UPDATE_CHECK := true
# The property-test (hypothesis @given) files `make fuzz` runs with many more examples; `make test` runs them
# derandomized with the default profile.
FUZZ_TESTS := tests/foundation/test_config_fuzz.py tests/foundation/test_network_math.py \
	tests/foundation/test_iam_and_policies.py tests/foundation/test_gpu_provisioning.py tests/k8s/test_units.py \
	tests/k8s/test_gpu_sharing.py tests/k8s/test_kueue.py tests/k8s/test_serving_args.py tests/ops/test_cost.py \
	tests/ops/test_chargeback.py tests/ops/test_cost_karpenter.py

.PHONY: venv demo test test-fast fuzz lint typecheck bench docs clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m mlops_platform.apps.demo

lint: $(STAMP)
	$(BIN)/ruff check platform tests
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# xdist hands out work units (an xdist_group or one test) in collection order, and tests/conftest.py collects
# slow tests first; --no-loadscope-reorder keeps that order (xdist would put the largest groups first).
# --max-worker-restart=0: a worker that dies fails the run at once, naming its test; replaced, it would have its
# group re-run (crashing test first) on the other worker, and loadgroup then waits forever for the lost workers.
XDIST := -n 2 --dist loadgroup --no-loadscope-reorder --max-worker-restart=0

test: $(STAMP) lint typecheck
	$(BIN)/pytest $(XDIST) -q --durations=15

# the inner loop: everything not marked slow (no generated-project suites, stand-ins or oracles)
test-fast: $(STAMP)
	$(BIN)/pytest $(XDIST) -q -m "not slow" --durations=10

# Property tests with fresh random examples (`make test` replays a fixed, derandomized set).
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -q -n 2 -m "not slow" $(FUZZ_TESTS)

bench: $(STAMP)
	$(BIN)/python -m mlops_platform.apps.bench $(BENCH)

docs: $(STAMP)
	$(BIN)/python -m mlops_platform.config.docs
	$(BIN)/mlplat policy docs

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
