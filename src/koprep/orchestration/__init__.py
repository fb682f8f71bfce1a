"""koprep on Prefect, in three modules whose imports run one way:

    parameters   the flow's validated parameters (no Prefect)
        ↑
    flow         the Prefect flow and its tasks, the retry rule and the run's Prefect UI artifacts
        ↑
    client       talking to a Prefect server: serve the flow, trigger and watch deployment runs

    runners      where the flow's tasks run (local, or a Dask cluster); no Prefect or Dask import

`flows/preprocess.py` at the repository root is the deployment entrypoint (`prefect.yaml`); it only
re-exports `flow.preprocess`. Nothing in this package imports `flows`.
"""
