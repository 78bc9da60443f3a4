# Two commands do all the set-up on a fresh machine (Python 3.11 + Java 17 + Maven):
#   make demo   set up, generate sample data, run the pipeline in local mode
#   make test   set up (and the test-only tools: Debian's chromium), run the test suite
.PHONY: setup test-setup demo test test-fast wheel bench clean

ROWS ?= 5000
AS_OF ?= 2026-11-01T00:00:00Z
SAMPLE ?= sample_data
WAREHOUSE ?= warehouse

setup:
	bash scripts/bootstrap.sh

# Test-only tools (chromium for the report's browser test); make demo does not need them.
test-setup: setup
	bash scripts/test_tools.sh

demo: setup
	./spark-submit.sh jobs/generate_data.py --out $(SAMPLE) --rows $(ROWS) --format assignment --seed 7 --as-of $(AS_OF) --defect-rate 0.02
	./spark-submit.sh jobs/pipeline.py --input $(SAMPLE) --warehouse $(WAREHOUSE) --as-of $(AS_OF)

test: test-setup
	.venv/bin/python -m pytest $(PYTEST_ARGS)

test-fast: test-setup
	.venv/bin/python -m pytest -m "not cluster and not e2e" $(PYTEST_ARGS)

wheel: setup
	.venv/bin/python -m pip wheel . --no-deps --no-build-isolation -w dist/

bench: setup
	.venv/bin/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf dist build *.egg-info $(SAMPLE) $(WAREHOUSE) spark-warehouse
