"""Composable Beam transforms for Beejan's complaint data: sources, cleaning, validation, enrichment, sinks.

Record logic lives in plain functions (easy to test without a pipeline); the PTransforms are thin wrappers.
Nothing here knows which runner it is on.
"""
