"""koprep: cached, Prefect-orchestrated Korean NLP preprocessing."""

__version__ = "0.1.0"
