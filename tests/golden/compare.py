"""Comparing a case's snapshot (tests.golden.digest) with the golden one, as messages that say what to do.

A stage whose output changed while its code version did not is the bug this guards against: a
store that already holds the entry would keep serving the old output under the same fingerprint.
A fingerprint that changed with the same code version and settings is a key-format change: every
stored entry would be recomputed. Differences that follow from an upstream stage's change (new
input fingerprints, new input data) are listed as consequences, not blamed on the stage itself.
"""

from __future__ import annotations

from typing import Any

UPDATE = "`python -m tests.golden --update`"
STAGE_MODULES = {
    "clean": "koprep/stages/clean.py", "clean-shard": "koprep/stages/clean.py",
    "model": "koprep/stages/tokenize.py", "tokenize": "koprep/stages/tokenize.py",
    "tokenize-shard": "koprep/stages/tokenize.py",
    "bow": "koprep/stages/vectorize.py", "ngram": "koprep/stages/vectorize.py",
    "tfidf": "koprep/stages/vectorize.py", "chargram": "koprep/stages/vectorize.py",
    "phrases": "koprep/stages/embed.py", "word2vec": "koprep/stages/embed.py",
    "fasttext": "koprep/stages/fasttext.py",
}
"""Where the VERSION that a stage's fingerprint carries lives."""
UPSTREAM = {
    "clean-shard": (), "clean": (), "model": ("clean",), "tokenize-shard": ("clean-shard", "model"),
    "tokenize": ("clean", "model"), "bow": ("tokenize",), "ngram": ("tokenize",), "tfidf": ("tokenize",),
    "chargram": ("clean",), "phrases": ("tokenize",), "word2vec": ("tokenize", "phrases"),
    "fasttext": ("tokenize",),
}
"""Each stage's inputs as the base code keys them (clean's parts are clean-shard's files, and so on)."""
DATA_UPSTREAM = {**UPSTREAM, "clean": ("clean-shard",), "tokenize": ("tokenize-shard", "model")}
"""Whose output each stage's output is made from."""
ORDER = tuple(UPSTREAM)
SAMPLE_TOLERANCE = 1e-3


def _upstream(stage: str, graph: dict[str, tuple[str, ...]]) -> set[str]:
    found: set[str] = set()
    pending = list(graph.get(stage, ()))
    while pending:
        name = pending.pop()
        if name not in found:
            found.add(name)
            pending.extend(graph.get(name, ()))
    return found


def _fingerprints(record: dict[str, Any]) -> list[str]:
    return record["fingerprints"] if "fingerprints" in record else [record["fingerprint"]]


def _sample_differences(expected: dict[str, str], actual: dict[str, str]) -> list[str]:
    """word2vec's sample: the same most frequent words, each vector's first dimensions within the tolerance."""
    if sorted(expected) != sorted(actual):
        return [f"the most frequent words are {sorted(actual)}, expected {sorted(expected)}"]
    found: list[str] = []
    for word in sorted(expected):
        want, got = [float(x) for x in expected[word].split()], [float(x) for x in actual[word].split()]
        moved = max((abs(a - e) for e, a in zip(want, got)), default=0.0)
        if len(want) != len(got) or moved > SAMPLE_TOLERANCE:
            found.append(f"the vector of {word!r} is [{actual[word]}], expected [{expected[word]}] (tolerance {SAMPLE_TOLERANCE:g})")
    return found


def output_differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """What differs in the output of one stage (files, combined shard digest, word2vec's sample)."""
    found: list[str] = []
    if "digest" in expected and expected["digest"] != actual.get("digest"):
        found.append(f"shard contents {expected['digest']} → {actual.get('digest')}")
    files, seen = expected.get("files", {}), actual.get("files", {})
    for name in sorted(set(files) | set(seen)):
        if name not in seen:
            found.append(f"{name} is missing")
        elif name not in files:
            found.append(f"{name} is new")
        elif files[name] != seen[name]:
            found.append(f"{name}: {files[name]} → {seen[name]}")
    if "sample" in expected:
        found += _sample_differences(expected["sample"], actual.get("sample", {}))
    return found


def compare(
    expected: dict[str, dict[str, Any]], actual: dict[str, dict[str, Any]], skip: frozenset[str] = frozenset()
) -> list[str]:
    """The problems of a case's stages (`actual`) against the golden ones (`expected`), stages in
    `skip` left out. Each problem is one message naming the stage."""
    problems: list[str] = []
    moved_keys: list[str] = []
    moved_outputs: list[str] = []
    key_changed: set[str] = set()
    data_changed: set[str] = set()
    known = [s for s in ORDER if s in expected or s in actual]
    for stage in known + sorted((set(expected) | set(actual)) - set(ORDER)):
        if stage in skip:
            continue
        if stage not in actual:
            problems.append(f"stage {stage} left no entry in the store; the golden file expects {_fingerprints(expected[stage])}")
            key_changed.add(stage)
            data_changed.add(stage)
            continue
        if stage not in expected:
            problems.append(f"unexpected stage {stage} in the store ({_fingerprints(actual[stage])}): not in the golden file")
            continue
        want, got = expected[stage], actual[stage]
        if "entries" in got:
            problems.append(f"stage {stage} has {len(got['entries'])} entries in the store where the case makes one")
            key_changed.add(stage)
            data_changed.add(stage)
            continue
        if want["code_version"] != got["code_version"]:
            problems.append(
                f"stage {stage}'s code version changed ({want['code_version']} → {got['code_version']}): "
                f"update the golden file on purpose with {UPDATE}"
            )
            key_changed.add(stage)
            data_changed.add(stage)
            continue
        if _fingerprints(want) != _fingerprints(got):
            key_changed.add(stage)
            if _upstream(stage, UPSTREAM) & key_changed:
                moved_keys.append(stage)
            else:
                problems.append(
                    f"the fingerprint of stage {stage} changed with the same code version and settings: every stored "
                    f"entry would be recomputed (a key-format change); if that is intended, say so in the commit and "
                    f"update the golden file with {UPDATE}. Expected {_fingerprints(want)}, got {_fingerprints(got)}"
                )
        differences = output_differences(want, got)
        if differences:
            data_changed.add(stage)
            if _upstream(stage, DATA_UPSTREAM) & data_changed:
                moved_outputs.append(stage)
            else:
                problems.append(
                    f"stage {stage}'s output changed but its code version did not: bump VERSION in "
                    f"{STAGE_MODULES.get(stage, 'the module of its logic')} (a store would otherwise keep serving "
                    f"the old output under the same fingerprint), then update the golden file with {UPDATE}. "
                    f"Differences: {'; '.join(differences)}"
                )
    consequences = [f"the {what} of {', '.join(stages)}" for what, stages in
                    (("fingerprints", moved_keys), ("outputs", moved_outputs)) if stages]
    if consequences:
        problems.append("also changed, as the changes above make them (upstream keys or data): " + "; ".join(consequences))
    return problems


def skipped_stages(recorded: dict[str, str], installed: dict[str, str], enters: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Stage → why it is not compared: the installed version of a library its fingerprint holds
    differs from the recorded one."""
    skipped: dict[str, str] = {}
    for library, stages in enters.items():
        if recorded.get(library) != installed.get(library):
            for stage in stages:
                skipped.setdefault(
                    stage, f"{library} {installed.get(library)} is installed, the golden file was made with {recorded.get(library)}"
                )
    return skipped
