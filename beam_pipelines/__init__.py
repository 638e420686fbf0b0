"""Whole pipelines built from ``transforms``: the batch and streaming graphs, configuration profiles and the
``complaints`` command line."""

__version__ = "0.1.0"
