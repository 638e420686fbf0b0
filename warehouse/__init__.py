"""The warehouse as Apache Iceberg tables: its catalog, the upsert committer, reads as of a snapshot, and
maintenance. Imports no Beam: the pipelines, the serving side and the maintenance command all use it.

- ``catalog``: opens the catalog (an embedded SQL catalog on SQLite in ``OUT/warehouse/catalog.db`` by
  default, or any catalog pyiceberg is configured with) and creates or evolves each table of
  ``schemas/tables.py`` from its Avro schema.
- ``commit``: commits data files or rows as one snapshot per call, replacing rows that have the same key
  (upsert), retried from the table's new state when another writer committed first.
- ``read``: the live data files of a table (now, or as of a time or snapshot) and the table read into Arrow.
- ``maintenance``: compaction of small files, snapshot expiry, removal of orphan files.
- ``secrets``: a secret (the catalog's password, the contact-token key) read where it is used, from an
  environment variable or a file, so that a pipeline carries only where it is.
"""
