"""What the tests import: helpers grouped by purpose (``tests/conftest.py`` holds only fixtures and hooks).

- ``paths``: the repository and the real public data; ``ports``: free and listening loopback ports;
  ``services``: the local services' ports and ``unavailable`` (skip on a laptop, fail in CI)
- ``cli``: ``run_cli`` and the latest run manifest; ``records``: raw records as the readers make them;
  ``pipelines``: the pipeline tests' TestPipeline and channel lines; ``models``: a labelled data set
- ``warehouse``: reading and seeding tables through the catalog; ``upkeep``: the maintenance tests' table;
  ``serving``: the serving warehouse and a real ``complaints serve``; ``browser``: chromium and screenshots
- ``ingest``: publishers and an HTTP server in a thread; ``streams``: a streaming scenario; ``kafka_broker``: a
  private broker (its ``private_kafka`` fixture is registered by ``tests/conftest.py``)
- ``iceberg_engines``, ``snapshot_refs``, ``position_deletes``, ``spark``, ``spark_driver``, ``erasure``: other
  engines' commits, branches and tags, and Spark, on our tables
"""
