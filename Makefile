# Set-up is part of every target: the first run creates .venv and installs the pinned dependencies.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint benchmark dashboard airflow services-start services-stop clean

$(STAMP): setup.py constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[all,test,docs]'
	touch $(STAMP)

demo: $(STAMP)  ## generate a day of sample input and run the batch pipeline on the DirectRunner
	$(BIN)/complaints generate day --output-dir sample --volume 10000
	$(BIN)/complaints batch --input-dir sample --output-dir out

test: $(STAMP)  ## run the whole test suite, with the local Kafka broker, expansion service and Prism it needs
	$(PYTHON) runners/local_services.py run -- $(BIN)/pytest

lint: $(STAMP)  ## ruff's lint and format check (ruff.toml), as CI runs them before the tests
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

benchmark: $(STAMP)  ## batch throughput and memory against a plain Python loop (see README)
	$(BIN)/python benchmarks/batch_throughput.py --records 100000 --train-model

dashboard: $(STAMP)  ## 90 days of synthetic history, a forecast, and the API + dashboard on http://127.0.0.1:8080
	$(BIN)/complaints generate history --warehouse out/history/warehouse --days 90 --per-day 2000
	$(BIN)/complaints model forecast --warehouse out/history/warehouse
	$(BIN)/complaints serve --warehouse out/history/warehouse --no-auth

airflow: $(STAMP)  ## Apache Airflow (its own environment) running the DAGs of runners/airflow/dags, on http://127.0.0.1:8790
	$(PYTHON) runners/local_services.py airflow

# runners/local_services.py's seven services: Kafka (KRaft), Beam's Kafka expansion service and Java worker pool,
# the Flink JobManager and TaskManager, Beam's Flink job server and the Python SDK worker pool
services-start:  ## start the seven local services (fetched and built on first use; Prism too); ONLY=kafka,xlang,prism for streaming
	$(PYTHON) runners/local_services.py start $(if $(ONLY),--only $(ONLY))

services-stop:
	$(PYTHON) runners/local_services.py stop

clean:
	rm -rf sample out .pytest_cache
