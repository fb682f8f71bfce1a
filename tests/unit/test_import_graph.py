"""The import graph of `src/koprep` and `flows/`, read with `ast` (nothing is imported): imports run
one way. Every import that runs counts, including those inside functions (lazy imports still tie
modules); imports under `if TYPE_CHECKING:` never run and serve annotations only, so they don't."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import REPO

SRC = REPO / "src"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC if path.is_relative_to(SRC) else REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_files() -> dict[str, Path]:
    files = [*SRC.joinpath("koprep").rglob("*.py"), *REPO.joinpath("flows").glob("*.py")]
    return {module_name(path): path for path in files}


def _type_checking_only(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def runtime_nodes(tree: ast.AST):
    """Every node of `tree` outside `if TYPE_CHECKING:` blocks."""
    pending = [tree]
    while pending:
        node = pending.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if not _type_checking_only(child):
                pending.append(child)


def imported_names(path: Path, modules: set[str]) -> set[str]:
    """Everything `path` imports when it runs: modules of this code base by their full name, others by
    their top level."""
    found: set[str] = set()
    for node in runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from koprep import pipeline` imports the module koprep.pipeline
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & modules
            found.update(submodules or {node.module})
    return {name if name in modules else name.split(".")[0] for name in found}


def import_graph() -> dict[str, set[str]]:
    files = source_files()
    modules = set(files)
    return {name: imported_names(path, modules) for name, path in files.items()}


def internal(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    return {name: {t for t in targets if t in graph and t != name} for name, targets in graph.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path of modules, or None (depth-first search with colours)."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return stack[stack.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_walker_sees_the_real_edges():
    graph = import_graph()
    assert "koprep.pipeline.runner" in graph["koprep.orchestration.flow"]
    assert "koprep.pipeline.resolve" not in graph["koprep.pipeline.tokenize"]  # annotations only (TYPE_CHECKING)
    assert "koprep.orchestration.flow" in graph["flows.preprocess"]
    assert "prefect" in graph["koprep.orchestration.flow"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_import_cycle_among_src_and_flows():
    assert find_cycle(internal(import_graph())) is None


def test_tokenizers_import_no_stage_pipeline_or_store():
    graph = import_graph()
    forbidden = ("koprep.stages", "koprep.pipeline", "koprep.store")
    for name, targets in graph.items():
        if name.startswith("koprep.tokenizers"):
            bad = {t for t in targets if t.startswith(forbidden)}
            assert not bad, f"{name} imports {bad}; stages may import tokenizers, never the reverse"


def test_stage_logic_and_the_pipeline_know_nothing_of_prefect():
    graph = import_graph()
    for name, targets in graph.items():
        if name.startswith(("koprep.stages", "koprep.pipeline")) or name in ("koprep.store", "koprep.config"):
            assert "prefect" not in targets, name
            assert not {t for t in targets if t.startswith("koprep.orchestration")}, name


def test_only_the_entrypoint_folder_is_flows_and_nothing_imports_it():
    graph = import_graph()
    assert [name for name in graph if name.startswith("flows")] == ["flows.preprocess"]
    assert not [name for name, targets in graph.items() if "flows" in targets or "flows.preprocess" in targets]
    # The flow never reaches back to the server client.
    assert "koprep.orchestration.client" not in graph["koprep.orchestration.flow"]
    assert "koprep.orchestration.flow" not in graph["koprep.orchestration.parameters"]


def test_a_tokenizer_worker_imports_no_pyarrow_numpy_or_pandas():
    """Every spawned worker pays its imports on a core the others need (pyarrow with numpy and pandas
    took 0.2-0.4 s of CPU each), where a process running the bare analyser imports only the analyser."""
    graph = import_graph()
    # What a worker imports: its entry point, the packages above the modules it unpickles, the backends.
    pending = ["koprep.tokenizer_worker", "koprep", "koprep.tokenizers", "koprep.stages"]
    pending += ["koprep.tokenizers.mecab", "koprep.tokenizers.kiwi", "koprep.tokenizers.okt"]
    reached: set[str] = set()
    while pending:
        name = pending.pop()
        if name not in reached:
            reached.add(name)
            pending.extend(graph.get(name, ()))
    assert not reached & {"pyarrow", "numpy", "pandas"}
    assert "koprep.stages.tokenize" in reached and "pydantic" in reached  # the walk does reach the worker's own imports
