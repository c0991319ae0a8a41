# One command per habit, used by people and CI alike.
PY      := .venv/bin/python
VENV    := .venv/.synced
CHROMIUM := .venv/.chromium
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: setup chromium demo deploy accuracy test test-fast lint readme bench bench-report stop clean

# The locked environment, and Chromium for the test of the UI's pictures: each installed once.
setup: $(VENV) $(CHROMIUM)

# Install exactly what uv.lock pins (uv is bootstrapped with pip if missing).
$(VENV): pyproject.toml uv.lock
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	python3 -m uv sync --frozen --extra dev --python 3.11 --compile-bytecode
	@touch $@

# Debian's Chromium, for the screenshots of the Prefect UI (manymodels screenshot, and its test): installed with
# apt-get where it is missing and we are root (as CI is), once; the stamp stops later runs asking apt again.
chromium: $(CHROMIUM)
$(CHROMIUM): | $(VENV)
	@if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then touch $@; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium && touch $@; \
	else echo "note: no Chromium and no root to install it: the UI's pictures and their test need it" \
		"(make chromium as root)"; fi

demo: setup
	.venv/bin/manymodels demo

# Every layer (tests/README.md: the layers, the markers, how to run one); the 25 slowest tests at the end.
# Two workers, each test file kept on one (its module fixtures are whole runs), files handed out in collection
# order (e2e, whose files are the long ones, first) rather than xdist's default of the files with most tests first,
# which left test_failing_storage's single 80 s test for last on one worker while the other sat idle.
test: setup
	$(PY) -m pytest -q --durations=25 -n 2 --dist loadfile --no-loadscope-reorder

test-fast: setup
	$(PY) -m pytest -q -m "not e2e"

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

# The README's table of `manymodels run`'s options, from the CLI (tests/unit/test_readme.py checks it is current).
readme: setup
	$(PY) -m app.options_table --write

# Every benchmark, then benchmarks/RESULTS.md from their results (hours on 2 cores); the tests run its smallest
# commands and its report step (tests/e2e/test_bench.py).
BENCH          := $(PY) -m benchmarks.bench
BENCH_OUT      ?= benchmarks/results
BENCH_REPORT   ?= benchmarks/RESULTS.md
BENCH_WORKLOADS ?= synthetic store-item
BENCH_SERIES   ?= 200 500
BENCH_TRIALS   ?= 5
BENCH_RAYTUNE  ?= 10
BENCH_THROUGHPUT ?=
BENCH_TRIAL_COST ?= --series 10 --trials 10
BENCH_STARTUP  ?= --runs 5
BENCH_STUDY_STORAGE ?= --trials 20 --studies 5
BENCH_INGEST   ?= --rows 50000000
BENCH_SCALE    ?= --series 30000
BENCH_COSTS    ?= store-item,500,20 store-item,500,100 hourly,200,10
bench: setup
	$(BENCH) clean --out $(BENCH_OUT)
	$(BENCH) trial-cost $(BENCH_TRIAL_COST) --out $(BENCH_OUT)
	$(BENCH) startup $(BENCH_STARTUP) --out $(BENCH_OUT)
	$(BENCH) study-storage $(BENCH_STUDY_STORAGE) --out $(BENCH_OUT)
	for workload in $(BENCH_WORKLOADS); do for n in $(BENCH_SERIES); do \
		$(BENCH) throughput --workload $$workload --series $$n --trials $(BENCH_TRIALS) \
			--raytune-series $(BENCH_RAYTUNE) $(BENCH_THROUGHPUT) --out $(BENCH_OUT) || exit 1; done; done
	for cost in $(BENCH_COSTS); do set -- $$(echo $$cost | tr , ' '); \
		$(BENCH) cost --workload $$1 --series $$2 --trials $$3 --out $(BENCH_OUT) || exit 1; done
	$(BENCH) ingest $(BENCH_INGEST) --out $(BENCH_OUT)
	$(BENCH) scale $(BENCH_SCALE) --out $(BENCH_OUT)
	$(MAKE) --no-print-directory bench-report

# make bench's last step alone: BENCH_REPORT from the results in BENCH_OUT (tests/e2e/test_bench.py runs it).
bench-report: setup
	$(BENCH) report --out $(BENCH_OUT) --to $(BENCH_REPORT)

# The local Prefect server, the deployments of deployments/prefect.yaml and a worker, left running for the UI.
deploy: setup
	.venv/bin/manymodels deploy

# The champion's accuracy on held-out store-item data, daily and weekly, and the panels, against the targets (about
# an hour here); then on the M3 and Tourism competitions' test windows (benchmarks/competitions.py), and the
# models they favour each alone there (benchmarks/models_alone.py). COMPETITIONS or MODELS_ALONE empty skips them.
ACCURACY ?= --series 500 --trials 10
COMPETITIONS ?= --trials 10
MODELS_ALONE ?= --out benchmarks/results
accuracy: setup
	$(PY) -m benchmarks.accuracy $(ACCURACY)
	$(if $(strip $(COMPETITIONS)),$(PY) -m benchmarks.competitions $(COMPETITIONS))
	$(if $(strip $(MODELS_ALONE)),$(PY) -m benchmarks.models_alone $(MODELS_ALONE))

stop: setup
	.venv/bin/manymodels stop

# Stop the local server; remove the manymodels home (MANYMODELS_HOME, else the user's data folder: the server's
# database and logs, the auth string, the demo) and the .manymodels folder earlier versions kept in the checkout.
HOME_OF_MANYMODELS = $(PY) -c 'from manymodels.storage import local_home; print(local_home())'
clean: stop
	home="$$($(HOME_OF_MANYMODELS))" && case "$$home" in /|"$$HOME") echo "not removing $$home" >&2; exit 1;; esac \
		&& rm -rf "$$home" .manymodels
