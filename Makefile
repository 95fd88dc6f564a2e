# Two commands a newcomer needs: `make demo` and `make test`. Each builds .venv itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean servers

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/graysignal demo --report graysignal-demo.html

lint: $(STAMP)
	$(BIN)/ruff check detector adapters tests benchmarks deploy
	$(BIN)/ruff format --check detector adapters tests benchmarks deploy

typecheck: $(STAMP)
	$(BIN)/mypy

# Real servers the tests talk to, from Debian (installed only when missing).
SERVER_BINARIES := prometheus promtool victoria-metrics prometheus-alertmanager
servers:
	@missing=0; for b in $(SERVER_BINARIES); do command -v $$b >/dev/null || missing=1; done; \
	if [ $$missing = 1 ]; then \
	  echo "installing prometheus, victoria-metrics and prometheus-alertmanager from Debian"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    prometheus victoria-metrics prometheus-alertmanager >/dev/null; \
	fi

unit: $(STAMP) servers
	$(BIN)/pytest -q

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache graysignal-demo.html

# A gray signal end to end in minutes: Prometheus, Alertmanager, graysignal and a slowly
# degrading demo service as background processes on 127.0.0.1 (README, "Deploy").
# Ports and state directory: PLAYGROUND_*_PORT, PLAYGROUND_DIR (run.py --help).
.PHONY: playground playground-stop
playground: $(STAMP) servers
	$(BIN)/python deploy/playground/run.py start

# Needs nothing but a Python: it must work even after `make clean`.
playground-stop:
	$(or $(wildcard $(BIN)/python),$(PYTHON)) deploy/playground/run.py stop
