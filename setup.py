"""Packaging for the complaint pipelines; also what ``--setup_file`` ships to Flink and Dataflow workers."""
from setuptools import find_packages, setup

INSTALL_REQUIRES = [
    "apache-beam[gcp]==2.77.0",
    "pyarrow==25.0.1",
    "fastavro==1.13.1",
    "google-cloud-pubsub==2.44.0",
    "scikit-learn==1.9.1",
    "pandas==3.1.1",
    "orjson==3.13.0",          # fast JSON for the lake and the JSON channels
    "phonenumbers==9.0.43",    # E.164 normalisation: a maintained port of Google's libphonenumber
    "defusedxml==0.7.1",       # XML without entity expansion or external entities
    "tzdata==2026.6",          # time zones where the OS has no tz database (slim images, Windows)
    "confluent-kafka==2.16.1", # Kafka producer (librdkafka) for publish, the web-form endpoint, the X connector
    "aiohttp==3.14.5",         # the web-form HTTP endpoint and the X filtered-stream client (streaming HTTP)
    "duckdb==2.0.0",           # serving: SQL over the Hive-partitioned Parquet warehouse, in process
    "fastapi==0.163.2",        # serving: the HTTP API with its OpenAPI document, and the dashboard
    "uvicorn==0.54.0",         # serving: the ASGI server under FastAPI
    "plotly==7.1.0",           # dashboard and report charts; ships plotly.js, served locally / inlined offline
    "holidays==0.108",         # forecasting: public-holiday calendars per country
    "vadersentiment==3.3.2",   # its published social-media sentiment lexicon (MIT), as model features
]

setup(
    name="beejan-complaints",
    version="0.1.0",
    description="Apache Beam pipelines for Beejan Technologies' customer-complaint data platform",
    python_requires=">=3.11",
    packages=find_packages(include=["beam_pipelines*", "transforms*", "models*", "runners*", "schemas*"]),
    package_data={"schemas": ["avro/*.avsc"], "beam_pipelines": ["config/*.toml", "serving/dashboard/*"]},
    install_requires=INSTALL_REQUIRES,
    extras_require={"test": ["pytest==9.2.0",
                             "hypothesis==6.170.15",   # property-based run of the API against its OpenAPI document
                             "playwright==1.65.2"]},   # drives Debian's chromium in the dashboard test
    entry_points={"console_scripts": ["complaints=beam_pipelines.cli:main"]},
)
