"""The run record: what one run used and produced (`<artifacts>/runs/<run_id>.json`), typed.

A record names every entry the run used, by stage: the stages the user chose, the auxiliary ones
they read (soynlp's trained `model`, word2vec's `phrases`), each with its fingerprint, its path
(relative to the store's root on disk, resolved against it when read), whether it came from the
store, how long it took, its rows and the facts its manifest holds (`extra`). `RunRecord.entries`
lists every entry it references: `gc` keeps them (and what they were computed from), `verify`
checks them, `koprep status` compares against them.

Records written by koprep before the stage graph (model under a top-level `model.path`, phrases
inside `stages.word2vec.extra.phrases`) read as the same record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field, model_validator

RECORD_FORMAT = 2
"""1: model and phrases outside `stages`; 2: every entry a run used is under `stages`."""


class StageRecord(BaseModel):
    """One entry as a run used it."""

    model_config = ConfigDict(extra="allow")

    fingerprint: str
    path: str
    cached: bool = True
    seconds: float = 0.0
    rows: int = 0
    extra: dict[str, Any] = Field(default_factory=dict)


class RunRecord(BaseModel):
    model_config = ConfigDict(extra="allow")

    format: int = RECORD_FORMAT
    run_id: str
    corpus: str | None = None
    backend: str | None = None
    stages: dict[str, StageRecord]
    """Every entry the run used, by stage, in the stage graph's order."""
    config: dict[str, Any] = Field(default_factory=dict)
    """The resolved configuration the run ran with (`PipelineConfig`, as JSON)."""
    compare: dict[str, Any] | None = None
    """For runs made by `koprep compare`: the preset and label column."""

    @model_validator(mode="before")
    @classmethod
    def _from_format_1(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("format", 1) >= RECORD_FORMAT:
            return data
        stages = dict(data.get("stages") or {})
        if not all(isinstance(stage, dict) for stage in stages.values()):
            return data  # built in code from StageRecords, not read from a file
        data = dict(data)
        model = data.pop("model", None)
        word2vec = stages.get("word2vec")
        phrases = ((word2vec or {}).get("extra") or {}).get("phrases")
        migrated: dict[str, Any] = {}
        for name, stage in stages.items():
            if name == "word2vec" and isinstance(phrases, dict):
                migrated["phrases"] = phrases
                extra = {k: v for k, v in stage["extra"].items() if k != "phrases"}
                stage = {**stage, "extra": extra}
            migrated[name] = stage
            if name == "clean" and isinstance(model, dict) and model.get("path"):
                migrated["model"] = {"fingerprint": Path(model["path"]).name, "path": model["path"]}
        data["stages"] = migrated
        data["format"] = RECORD_FORMAT
        return data

    def entries(self) -> dict[str, str]:
        """Stage → fingerprint of every entry this run references."""
        return {name: stage.fingerprint for name, stage in self.stages.items()}

    def referenced_runs(self) -> set[str]:
        """Runs this run's settings name by id: `run.fitted_from`, and `tokenize.model` when it is not a
        folder path (a candidate: the caller checks which ids exist)."""
        run = self.config.get("run") or {}
        tokenize = self.config.get("tokenize") or {}
        candidates = {run.get("fitted_from"), tokenize.get("model")}
        return {c for c in candidates if isinstance(c, str) and "/" not in c}

    def with_paths(self, convert: Callable[[str], str]) -> RunRecord:
        """A copy with its artifact paths (every stage's, `tokenize.model` when it names a folder)
        passed through `convert`."""
        stages = {name: stage.model_copy(update={"path": convert(stage.path)}) for name, stage in self.stages.items()}
        config = self.config
        model = (config.get("tokenize") or {}).get("model")
        if isinstance(model, str) and "/" in model:
            try:
                config = {**config, "tokenize": {**config["tokenize"], "model": convert(model)}}
            except ValueError:  # a folder outside the store (refused when the run resolved it) stays as given
                pass
        return self.model_copy(update={"stages": stages, "config": config})

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)
