"""Prefect deployment entrypoint `flows/preprocess.py:preprocess` (prefect.yaml).

The flow and its tasks live in `koprep.orchestration.flow`, inside the installed package; this file
only names it, so a deployment made from this folder and `koprep serve` run the same flow object.
"""

from koprep.orchestration.flow import preprocess

__all__ = ["preprocess"]

if __name__ == "__main__":
    preprocess()
