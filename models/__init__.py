"""Models that label complaints: category, sentiment and priority.

``models.base`` defines the interface every model implements; ``models.rules`` is the transparent rules-based
model (also the named fallback when no trained model is configured).
"""
