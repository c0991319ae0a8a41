# One command per habit, used by people and CI alike.
PY      := .venv/bin/python
VENV    := .venv/.synced
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: setup demo test test-fast lint stop clean

setup: $(VENV)

# Install exactly what uv.lock pins (uv is bootstrapped with pip if missing).
$(VENV): pyproject.toml uv.lock
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	python3 -m uv sync --frozen --extra dev --python 3.11
	@touch $@

demo: setup
	.venv/bin/manymodels demo

test: setup
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not e2e"

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

stop: setup
	.venv/bin/manymodels stop

clean: stop
	rm -rf .manymodels
