"""The pipeline's stages against the artifact store, with no Prefect in them.

    graph        the stage graph, declared once: every stage's inputs, key, compute function, files
    keys         what each stage's cache key hashes (parameters, non-stage inputs)
    resolve      a run's settings resolved once (config, backend, token filter, given model, fitted
                 vocabularies, forced stages); the one place that builds a ready tokenizer
    execution    compute-or-reuse of one entry under its lock; StageResult, StageJob
    runner       a plan carried out in graph order through an executor (in process, or the flow's)
    datasets     each artifact kind's files, with their writer and reader
    readers      a stage's Parquet shards read back in groups (tokens, texts, sentences)
    clean, tokenize, vectorize, embed
                 the compute functions of the stages, by kind: read inputs from the store, call the
                 pure logic in `koprep.stages`, write the entry

`koprep.plan` builds a run's plan from the graph; `koprep.orchestration.flow` runs it as a Prefect
flow; `koprep.compare` and the tests run it in process (`runner.run_and_record`).
"""
