# Set-up is part of every target: the first run creates .venv and installs the pinned dependencies.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test benchmark clean

$(STAMP): setup.py constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)  ## generate a day of sample input and run the batch pipeline on the DirectRunner
	$(BIN)/complaints generate --output-dir sample --volume 10000
	$(BIN)/complaints batch --input-dir sample --output-dir out

test: $(STAMP)  ## run the whole test suite
	$(BIN)/pytest

benchmark: $(STAMP)  ## batch throughput and memory against a plain Python loop (see README)
	$(BIN)/python benchmarks/batch_throughput.py --records 100000

clean:
	rm -rf sample out .pytest_cache
