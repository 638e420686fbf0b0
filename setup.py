"""Packaging for the complaint pipelines; also what ``--setup_file`` ships to Flink and Dataflow workers.

Each role installs only its own extra: the Beam workers and the pipeline commands ``.[pipeline]``, the API host
``.[serving]`` (no Beam), the ingestion edge ``.[ingest]`` (no Beam). The demo and the tests install them all
(``.[all,test,docs]``: the tests build the docs site too). Every transitive version is fixed in ``constraints.txt``.
"""

from setuptools import find_packages, setup

BASE = [  # what every role reads and writes: the record schemas and the table catalog, Arrow, JSON
    "pyarrow==25.0.1",
    "fastavro==1.13.1",
    "orjson==3.13.0",  # fast JSON for the lake and the JSON channels
    "tzdata==2026.6",  # time zones where the OS has no tz database (slim images, Windows)
    "pyiceberg[sql-sqlite]==0.12.0",  # the warehouse's Apache Iceberg tables, and their embedded SQLite catalog
]
PIPELINE = [  # the Beam pipelines, the models they run, the generator
    "apache-beam[gcp,dataframe]==2.77.0",  # dataframe: to_dataframe on typed complaints (pins pandas<2.4)
    "google-cloud-pubsub==2.44.0",
    "scikit-learn==1.9.1",
    "pandas==2.3.3",  # Beam 2.77's DataFrame API requires pandas<2.4
    "phonenumbers==9.0.43",  # E.164 normalisation: a maintained port of Google's libphonenumber
    "defusedxml==0.7.1",  # XML without entity expansion or external entities
    "pyahocorasick==2.3.1",  # the rules model finds all its phrases in one pass over a text (Aho-Corasick, C)
    "vadersentiment==3.3.2",  # its published social-media sentiment lexicon (MIT), as model features
    "holidays==0.108",  # the history generator's holiday dips (same calendars as the forecast)
    "confluent-kafka==2.16.1",  # the streaming job creates missing channel topics before it starts
]
SERVING = [  # the API, dashboard, reports, query and forecast over the warehouse
    "duckdb==2.0.0",  # SQL over the Hive-partitioned Parquet warehouse, in process
    "pytz==2026.6",  # DuckDB needs it to hand time-zone-aware timestamps to Python
    "fastapi==0.163.2",  # the HTTP API with its OpenAPI document, and the dashboard
    "fastapi-offline==1.7.7",  # /docs: Swagger UI 5's files in a package, served by the app (no CDN)
    "uvicorn==0.54.0",  # the ASGI server under FastAPI
    "prometheus-client==0.26.0",  # /metrics in Prometheus' exposition format, from its own client library
    "plotly==7.1.0",  # dashboard and report charts; ships plotly.js, served locally / inlined offline
    "holidays==0.108",  # forecasting: public-holiday calendars per country
    "scikit-learn==1.9.1",  # the forecast's Poisson regression and the phrase ranking
    "pandas==2.3.3",  # Beam 2.77's DataFrame API requires pandas<2.4
]
INGEST = [  # the web-form endpoint, the X connector and replay, publishing to the live topics
    "confluent-kafka==2.16.1",  # Kafka producer (librdkafka)
    "google-cloud-pubsub==2.44.0",
    "aiohttp==3.14.5",  # the web-form HTTP endpoint and the X filtered-stream client (streaming HTTP)
    "phonenumbers==9.0.43",  # the endpoint checks a post with the pipeline's own parser (transforms.cleaning)
]
WAREHOUSE = [  # a shared Iceberg SQL catalog on PostgreSQL ([warehouse] catalog_uri postgresql+psycopg://...)
    "psycopg==3.3.9",  # PostgreSQL's driver for SQLAlchemy (psycopg 3)
    "psycopg-binary==3.3.9",  # its compiled libpq, so no PostgreSQL client library has to be on the host
]
TEST = [
    "pytest==9.2.0",
    "hypothesis==6.170.15",  # property-based runs: the API against its OpenAPI document, the parsers
    "playwright==1.65.2",  # drives Debian's chromium in the dashboard test
    "jsonschema==4.26.0",  # validates the Kubernetes manifests against the Flink operator's CRD schema
    "ruff==0.17.5",  # lint and format check (ruff.toml; `make lint`, run by CI before the tests)
]
DOCS = [  # the docs site (docs/, mkdocs.yml): mkdocs build --strict, reference pages generated from the code
    "mkdocs==1.6.1",
    "mkdocs-material==9.8.1",
    "mkdocstrings-python==2.0.11",  # the Python API pages, from the docstrings
]

setup(
    name="beejan-complaints",
    version="0.1.0",
    description="Apache Beam pipelines for Beejan Technologies' customer-complaint data platform",
    license="Apache-2.0",
    license_files=["LICENSE"],
    python_requires=">=3.11",
    packages=find_packages(
        include=[
            "beam_pipelines*",
            "transforms*",
            "models*",
            "runners*",
            "schemas*",
            "serving*",
            "ingest*",
            "warehouse*",
        ]
    ),
    package_data={
        "schemas": ["avro/*.avsc"],
        "beam_pipelines": ["config/*.toml"],
        "serving": ["dashboard/*"],
        "models": ["label_maps/*.json"],
    },
    install_requires=BASE,
    extras_require={
        "pipeline": PIPELINE,
        "serving": SERVING,
        "ingest": INGEST,
        "warehouse": WAREHOUSE,
        "all": sorted(set(PIPELINE + SERVING + INGEST + WAREHOUSE)),
        "test": TEST,
        "docs": DOCS,
    },
    entry_points={"console_scripts": ["complaints=beam_pipelines.cli:main"]},
)
