"""The visual report of a run: one self-contained HTML file beside the run's record.

`<artifacts>/runs/<run_id>.html` (and `runs/latest.html`) holds the corpus and vocabulary
statistics, the top terms by frequency and by TF-IDF, the token-length histograms, word2vec
neighbours of the most frequent words and a 2-D PCA projection of the top word vectors. It needs no
network: charts are PNGs in data URIs, and the page's own text uses an embedded subset of NanumGothic,
the Hangul font the `koreanize-matplotlib` package ships, which the charts also use explicitly. No
system font is relied upon, so Korean renders wherever the file is opened.

The same summary goes to the Prefect UI as a markdown artifact (`publish_report`).
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import importlib.util
import io
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, AbstractSet, Any, Mapping

from koprep.runs import RunRecord
from koprep.store import RUNS, ArtifactStore, write_bytes_atomic

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

REPORT_ARTIFACT = "koprep-report"
FONT_FAMILY = "KoprepHangul"
TOP_TERMS = 20
PROJECTED_WORDS = 40
NEIGHBOURS = 5
NEIGHBOUR_WORDS = 12


# ------------------------------------------------------------------------------------------ font
@lru_cache(maxsize=1)
def hangul_font_path() -> Path:
    """NanumGothic.ttf from the koreanize-matplotlib package, located without importing it (its
    import changes matplotlib's global settings)."""
    spec = importlib.util.find_spec("koreanize_matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("koreanize-matplotlib is not installed; `pip install koreanize-matplotlib` (a koprep dependency)")
    path = Path(next(iter(spec.submodule_search_locations))) / "fonts" / "NanumGothic.ttf"
    if not path.is_file():
        raise RuntimeError(f"{path} is missing; reinstall koreanize-matplotlib")
    return path


def font_subset(text: str, font: Path | None = None) -> bytes:
    """A WOFF font holding only the glyphs for the characters of `text` (a few KB instead of 4.6 MB)."""
    from fontTools import subset

    options = subset.Options()
    options.flavor = "woff"
    options.hinting = False
    options.desubroutinize = True
    options.layout_features = ["*"]
    # NanumGothic carries VTT hinting sources, which fontTools cannot subset (and warns about).
    options.drop_tables += ["TSI0", "TSI1", "TSI2", "TSI3", "TSI5"]
    loaded = subset.load_font(str(font or hangul_font_path()), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text="".join(sorted(set(text) | set(" 0123456789"))))
    subsetter.subset(loaded)
    buffer = io.BytesIO()
    subset.save_font(loaded, buffer, options)
    return buffer.getvalue()


def font_face(text: str, font: Path | None = None, family: str = FONT_FAMILY) -> str:
    """An @font-face rule embedding a subset of `font` (default NanumGothic) covering `text`."""
    data = base64.b64encode(font_subset(text, font)).decode("ascii")
    return f"@font-face {{ font-family: '{family}'; src: url(data:font/woff;base64,{data}) format('woff'); }}"


# ---------------------------------------------------------------------------------------- charts
def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _font() -> FontProperties:
    from matplotlib.font_manager import FontProperties

    return FontProperties(fname=str(hangul_font_path()))


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", facecolor="white")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def bar_chart(title: str, labels: list[str], values: list[float], color: str) -> str:
    """Horizontal bars, largest on top; labels in the bundled Hangul font."""
    font = _font()
    figure = _figure(5.2, max(2.0, 0.24 * len(labels) + 0.8))
    axes = figure.add_subplot()
    positions = list(range(len(labels)))[::-1]
    axes.barh(positions, values, color=color)
    axes.set_yticks(positions, labels, fontproperties=font, fontsize=10)
    axes.set_title(title, fontproperties=font, fontsize=12, loc="left")
    axes.spines[["top", "right"]].set_visible(False)
    axes.margins(y=0.01)
    return _png(figure)


def histogram_chart(title: str, xlabel: str, edges: list[float], counts: list[int], color: str) -> str:
    font = _font()
    figure = _figure(5.2, 2.8)
    axes = figure.add_subplot()
    widths = [right - left for left, right in zip(edges[:-1], edges[1:])]
    axes.bar(edges[:-1], counts, width=widths, align="edge", color=color, edgecolor="white", linewidth=0.5)
    axes.set_title(title, fontproperties=font, fontsize=12, loc="left")
    axes.set_xlabel(xlabel, fontproperties=font)
    axes.set_ylabel("문서 수" if "문서" in title else "토큰 수", fontproperties=font)
    axes.spines[["top", "right"]].set_visible(False)
    return _png(figure)


def projection_chart(title: str, points: Mapping[str, Any]) -> str:
    """Scatter of the PCA projection with a Korean label beside every word."""
    font = _font()
    figure = _figure(6.0, 5.0)
    axes = figure.add_subplot()
    axes.scatter(points["x"], points["y"], s=14, color="#2b6cb0")
    for word, x, y in zip(points["words"], points["x"], points["y"]):
        axes.annotate(word, (x, y), xytext=(3, 2), textcoords="offset points", fontproperties=font, fontsize=9)
    explained = points.get("explained", [0.0, 0.0])
    axes.set_xlabel(f"PC1 ({explained[0]:.0%})")
    axes.set_ylabel(f"PC2 ({explained[1]:.0%})")
    axes.set_title(title, fontproperties=font, fontsize=12, loc="left")
    axes.spines[["top", "right"]].set_visible(False)
    return _png(figure)


# ------------------------------------------------------------------------------------------ data
def report_data(store: ArtifactStore, record: RunRecord) -> dict[str, Any]:
    """What the report shows, gathered from the run record and the stage artifacts."""
    from koprep import inspection

    details: dict[str, Any] = {}
    for name, stage in record.stages.items():
        entry = store.open_entry(stage.path)
        if name == "clean":
            extra = entry.manifest.get("extra", {})
            details[name] = {"documents": extra.get("documents"), "empty_after_clean": extra.get("empty_after_clean", 0),
                             "optional_steps": _optional_clean_steps(extra.get("steps") or {})}
            continue
        details[name] = inspection.stage_details(
            store, record, name, entry, top=TOP_TERMS, samples=3, neighbours=NEIGHBOURS
        )
    data = {"summary": record.to_json(), "stages": details}
    if "word2vec" in record.stages:
        data["projection"] = inspection.projection(store.open_entry(record.stages["word2vec"].path), PROJECTED_WORDS)
    return data


def _optional_clean_steps(described: Mapping[str, Any]) -> str:
    """The optional clean steps a clean entry ran (its manifest's `steps`), e.g. "pii (rrn, phone), spacing"."""
    shown = []
    for step in described.get("steps", []):
        if step["step"] in ("hanja", "pii", "spacing", "sentences"):
            detail = step.get("kinds") or step.get("mode")
            shown.append(step["step"] + (f" ({', '.join(detail) if isinstance(detail, list) else detail})" if detail else ""))
    return ", ".join(shown)


def statistics(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, value) rows of corpus and vocabulary statistics."""
    stages = data["stages"]
    rows = []
    if "clean" in stages:
        rows += [("documents", f"{stages['clean']['documents']:,}"),
                 ("empty after cleaning", f"{stages['clean']['empty_after_clean']:,}")]
        if stages["clean"].get("optional_steps"):
            rows.append(("optional cleaning steps", stages["clean"]["optional_steps"]))
    if "dedup" in stages:
        found = stages["dedup"]["extra"]
        rows.append((f"duplicates {'dropped' if found['mode'] == 'drop' else 'marked'} (exact / near)",
                     f"{found['exact']:,} / {found['near']:,}"))
    if "tokenize" in stages:
        tokens = stages["tokenize"]
        rows += [("tokens", f"{tokens['tokens']:,}"), ("distinct tokens", f"{tokens['vocabulary']:,}"),
                 ("documents without tokens", f"{tokens['empty_documents']:,}"),
                 *([("quarantined documents", f"{len(tokens['quarantined']):,}")] if tokens.get("quarantined") else []),
                 ("tokens per document (mean / median / max)",
                  f"{tokens['tokens_per_document']['mean']} / {tokens['tokens_per_document']['median']:g} / "
                  f"{tokens['tokens_per_document']['max']:,}")]
    for name, stage in stages.items():
        if "top_by_df" in stage:
            rows.append((f"{name} vocabulary", f"{stage['terms']:,} terms, {stage['nonzeros']:,} non-zeros"))
    if "word2vec" in stages:
        rows.append(("word2vec vocabulary", f"{stages['word2vec']['terms']:,} words × {stages['word2vec']['vector_size']}"))
        rows += diagnostic_rows("word2vec", stages["word2vec"].get("diagnostic"))
    return rows


def diagnostic_rows(name: str, diagnostic: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """(label, value) rows of word vectors' training diagnostic."""
    if not diagnostic:
        return []
    spread = diagnostic["neighbour_cosine"]
    rows = [(f"{name} training", f"{diagnostic['epochs']} epochs on {diagnostic['corpus_tokens']:,} tokens")]
    if diagnostic["coverage"] is not None:
        rows.append((f"{name}: corpus tokens in its vocabulary", f"{diagnostic['coverage']:.1%}"))
    if spread["mean"] is not None:
        rows.append((f"{name}: cosine of the {spread['neighbours']} nearest neighbours of the {spread['words']} most frequent words",
                     f"mean {spread['mean']:.2f} (min {spread['min']:.2f}, max {spread['max']:.2f})"))
    if diagnostic["loss_per_epoch"]:
        losses = diagnostic["loss_per_epoch"]
        rows.append((f"{name}: loss, first → last epoch", f"{losses[0]:,.0f} → {losses[-1]:,.0f}"))
    return rows


# ------------------------------------------------------------------------------------------ html
_STYLE = """
body { font-family: '%(family)s', sans-serif; margin: 24px auto; max-width: 1180px; color: #1a202c; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #e2e8f0; }
.meta { color: #4a5568; font-size: 13px; }
table { border-collapse: collapse; font-size: 13px; } td, th { padding: 3px 10px; text-align: left; border-bottom: 1px solid #edf2f7; }
th { background: #f7fafc; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.grid { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.grid img { border: 1px solid #e2e8f0; }
.term { font-size: 15px; }
code { font-family: '%(family)s', monospace; font-size: 12px; }
.warning { background: #fffbea; border-left: 4px solid #d69e2e; padding: 8px 12px; font-size: 14px; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _table(header: list[str], rows: list[list[str]], numeric: AbstractSet[int] = frozenset()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td class=\"num\">{cell}</td>" if i in numeric else f"<td>{cell}</td>" for i, cell in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _term(term: str) -> str:
    return f'<span class="term">{_e(term)}</span>'


def render_html(data: Mapping[str, Any], created: dt.datetime | None = None) -> str:
    summary = data["summary"]
    stages = data["stages"]
    created = created or dt.datetime.now(dt.timezone.utc)
    parts = [
        f"<h1>koprep run {_e(summary['run_id'])}</h1>",
        f"<div class=\"meta\">corpus <code>{_e(summary.get('corpus'))}</code> · backend <b>{_e(summary.get('backend'))}</b>"
        f" · report written {created.strftime('%Y-%m-%d %H:%M UTC')}</div>",
        "<h2>Stages</h2>",
        _table(
            ["stage", "status", "rows", "seconds", "fingerprint"],
            [[_e(name), "cached" if s["cached"] else "computed", f"{s['rows']:,}", f"{s['seconds']:.2f}",
              f"<code>{_e(s['fingerprint'][:12])}</code>"] for name, s in summary["stages"].items()],
            numeric={2, 3},
        ),
        "<h2>Corpus and vocabulary</h2>",
        _table(["", ""], [[_e(label), _e(value)] for label, value in statistics(data)], numeric={1}),
    ]
    charts = []
    tokens = stages.get("tokenize")
    tfidf = stages.get("tfidf")
    if tokens:
        top = tokens["top_terms"]
        charts.append(("top-frequency", bar_chart("빈도 상위 토큰 (top tokens by count)", [t["term"] for t in top],
                                                  [t["count"] for t in top], "#2b6cb0")))
    if tfidf and tfidf.get("top_by_tfidf"):
        top = tfidf["top_by_tfidf"]
        charts.append(("top-tfidf", bar_chart("TF-IDF 상위 용어 (summed TF-IDF weight)", [t["term"] for t in top],
                                              [t["tfidf"] for t in top], "#c05621")))
    if tokens:
        per_doc = tokens["tokens_per_document"]["histogram"]
        charts.append(("tokens-per-document", histogram_chart(
            "문서당 토큰 수 (tokens per document)", "tokens" + (f"  (+{per_doc['above']:,} longer)" if per_doc["above"] else ""),
            per_doc["edges"], per_doc["counts"], "#2f855a")))
        lengths = {int(k): v for k, v in tokens["characters_per_token"].items()}
        longest = min(max(lengths, default=1), 12)
        charts.append(("characters-per-token", histogram_chart(
            "토큰 길이 (characters per token)", "characters", [k + 0.5 for k in range(longest + 1)],
            [lengths.get(k, 0) for k in range(1, longest + 1)], "#6b46c1")))
    if charts:
        parts.append("<h2>Charts</h2>")
        parts.append('<div class="grid">' + "".join(
            f'<img id="chart-{name}" alt="{name}" src="{uri}">' for name, uri in charts) + "</div>")
    if tokens or tfidf:
        parts.append("<h2>Top terms</h2><div class=\"grid\">")
        if tokens:
            parts.append(_table(["#", "token", "count"], [[str(i + 1), _term(t["term"]), f"{t['count']:,}"]
                                                            for i, t in enumerate(tokens["top_terms"])], numeric={0, 2}))
        if tfidf:
            parts.append(_table(["#", "term", "TF-IDF", "df", "idf"],
                                [[str(i + 1), _term(t["term"]), f"{t['tfidf']:,.2f}", f"{t['df']:,}", f"{t['idf']:.4f}" if "idf" in t else ""]
                                 for i, t in enumerate(tfidf["top_by_tfidf"])], numeric={0, 2, 3, 4}))
        parts.append("</div>")
    word2vec = stages.get("word2vec")
    projection = data.get("projection")
    if word2vec:
        parts.append("<h2>word2vec: nearest neighbours and a 2-D projection (PCA) of the most frequent words</h2>")
        warning = (word2vec.get("diagnostic") or {}).get("warning")
        if warning:
            parts.append(f'<p class="warning" id="word2vec-warning"><b>Warning:</b> {_e(warning)}</p>')
        parts.append('<div class="grid">')
        parts.append(_table(
            ["word", "count", "neighbours (cosine similarity)"],
            [[_term(item["word"]), f"{item['count']:,}",
              ", ".join(f"{_term(w)} <small>{s:.2f}</small>" for w, s in item["similar"])]
             for item in word2vec["neighbours"][:NEIGHBOUR_WORDS]],
            numeric={1},
        ))
        if projection and projection["words"]:
            parts.append(f'<img id="chart-projection" alt="projection" '
                         f'src="{projection_chart("단어 벡터 PCA (top words)", projection)}">')
        parts.append("</div>")
    dedup = stages.get("dedup")
    if dedup:
        found = dedup["extra"]
        parts.append(f"<h2>Duplicates ({_e(found['mode'])}): {found['exact']:,} exact, {found['near']:,} near</h2>")
        parts.append(_table(["kind", "doc_id", "text", "duplicate of", "original"], [
            [_e(kind), _e(e["doc_id"]), _e(_clip(e["text"])), _e(e["duplicate_of"]), _e(_clip(e["original"]))]
            for kind, examples in found["examples"].items() for e in examples
        ]))
    if tokens and tokens.get("quarantined"):
        parts.append("<h2 id=\"quarantined\">Quarantined documents</h2>"
                     "<p>The analyser could not get through these (it crashed or hung on them); they are kept "
                     "with empty tokens.</p>")
        parts.append(_table(["doc_id", "why", "cleaned text"], [
            [_e(q["doc_id"]), _e(q["reason"]), _e(_clip(q.get("text", "")))] for q in tokens["quarantined"]
        ]))
    if tokens and tokens["samples"]:
        parts.append("<h2>Sample documents</h2>")
        parts.append(_table(["doc_id", "cleaned text", "tokens"], [
            [_e(s["doc_id"]), _e(_clip(s["clean"] or "")), _e(_clip(" · ".join(s["tokens"])))] for s in tokens["samples"]
        ]))
    body = "\n".join(parts)
    style = _STYLE % {"family": FONT_FAMILY}
    # The font subset covers every character of the page's text (tags and data URIs are ASCII).
    return (
        "<!DOCTYPE html>\n<html lang=\"ko\"><head><meta charset=\"utf-8\">"
        f"<title>koprep run {_e(summary['run_id'])}</title>"
        f"<style>{font_face(body)}\n{style}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def _clip(text: str, width: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


# ----------------------------------------------------------------------------------- write/publish
def report_path(store: ArtifactStore, run_id: str) -> Path:
    return store.inside(RUNS, f"{run_id}.html")


def write_report(store: ArtifactStore, record: RunRecord) -> tuple[Path, dict[str, Any]]:
    """Write `runs/<run_id>.html` and `runs/latest.html`; returns the path and the data shown."""
    data = report_data(store, record)
    page = render_html(data).encode("utf-8")
    path = report_path(store, record.run_id)
    for target in (path, report_path(store, "latest")):
        target.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(target, page)
        store.publish_file(target)  # for a URL root: into the bucket too
    return path, data


def report_markdown(data: Mapping[str, Any], html_path: Path) -> str:
    """The report's tables as markdown for the Prefect UI."""
    summary = data["summary"]
    stages = data["stages"]
    lines = [f"# koprep report `{summary['run_id']}`", "", f"HTML report with charts: `{html_path}`", "",
             "| statistic | value |", "| --- | ---: |"]
    lines += [f"| {label} | {value} |" for label, value in statistics(data)]
    if "tokenize" in stages:
        lines += ["", "## Top tokens by count", "", "| token | count |", "| --- | ---: |"]
        lines += [f"| {t['term']} | {t['count']:,} |" for t in stages["tokenize"]["top_terms"]]
    if "tfidf" in stages:
        lines += ["", "## Top terms by TF-IDF weight", "", "| term | TF-IDF | df |", "| --- | ---: | ---: |"]
        lines += [f"| {t['term']} | {t['tfidf']:,.2f} | {t['df']:,} |" for t in stages["tfidf"]["top_by_tfidf"]]
    if "word2vec" in stages:
        warning = (stages["word2vec"].get("diagnostic") or {}).get("warning")
        lines += ["", "## word2vec neighbours", ""] + ([f"> **Warning:** {warning}", ""] if warning else [])
        lines += ["| word | neighbours |", "| --- | --- |"]
        lines += [f"| {item['word']} | {', '.join(f'{w} ({s:.2f})' for w, s in item['similar'])} |"
                  for item in stages["word2vec"]["neighbours"][:NEIGHBOUR_WORDS]]
    return "\n".join(lines) + "\n"


def publish_report(store: ArtifactStore, record: RunRecord) -> Path:
    """Write the HTML report and, inside a Prefect flow run, attach its summary as a markdown artifact."""
    path, data = write_report(store, record)
    from prefect.context import FlowRunContext, TaskRunContext

    if FlowRunContext.get() is not None or TaskRunContext.get() is not None:
        from prefect.artifacts import create_markdown_artifact

        create_markdown_artifact(markdown=report_markdown(data, path), key=REPORT_ARTIFACT,
                                 description="koprep run report: statistics, top terms, word2vec neighbours")
    return path
