"""The HTML run report: self-contained, numbers from the artifacts, and, rendered by a real headless
Chromium that sees no system font with Hangul, charts drawn and Korean drawn as glyphs, not boxes."""

from __future__ import annotations

import base64
import html
import io
import json
import re
import shutil
import subprocess
import warnings
from html.parser import HTMLParser
from pathlib import Path

import matplotlib
import numpy as np
import pytest

from koprep import inspection, report
from koprep.runs import RunRecord
from koprep.store import ArtifactStore
from tests.runs import record_pipeline_run

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHARTS = {"chart-top-frequency", "chart-top-tfidf", "chart-tokens-per-document", "chart-characters-per-token",
          "chart-projection"}
DEJAVU = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
HANGUL = re.compile(r"^[가-힣]+$")


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """A real run on the default corpus (kolaw + kobill, whitespace tokens) and its report."""
    store = ArtifactStore(tmp_path_factory.mktemp("store"))
    summary = record_pipeline_run(store, None, "run-1", overrides={"word2vec.vector_size": 32})
    path, data = report.write_report(store, RunRecord.model_validate(summary))
    return store, summary, path, data


class _Text(HTMLParser):
    """The page's visible text (what the @font-face font must cover)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        self.skip += tag in ("style", "script")

    def handle_endtag(self, tag):
        self.skip -= tag in ("style", "script")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def _embedded_font(page: str) -> bytes:
    match = re.search(r"url\(data:font/woff;base64,([A-Za-z0-9+/=]+)\)", page)
    assert match, "no embedded @font-face font"
    return base64.b64decode(match.group(1))


def test_report_is_written_beside_the_run_record_and_needs_no_network(written):
    store, summary, path, _ = written
    assert path == store.root / "runs" / "run-1.html"
    page = path.read_text(encoding="utf-8")
    assert (store.root / "runs" / "latest.html").read_text(encoding="utf-8") == page
    assert "<script" not in page and "<link" not in page and "@import" not in page
    sources = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert set(re.findall(r'<img id="([^"]+)"', page)) == CHARTS
    assert "http://" not in page and "https://" not in page
    assert len(page.encode()) < 600_000  # subset font, not the 4.6 MB NanumGothic


def test_embedded_font_is_nanumgothic_covering_every_character_shown(written):
    from fontTools.ttLib import TTFont

    page = written[2].read_text(encoding="utf-8")
    font = TTFont(io.BytesIO(_embedded_font(page)))
    assert font.flavor == "woff"
    assert "NanumGothic" in font["name"].getDebugName(4).replace(" ", "")
    parser = _Text()
    parser.feed(page)
    shown = set("".join(parser.parts)) - set(" \n\t")
    cmap = font.getBestCmap()
    missing = sorted(c for c in shown if ord(c) not in cmap)
    assert missing == []
    hangul = [c for c in shown if HANGUL.match(c)]
    assert len(hangul) > 100  # the page really is Korean
    assert all(font["glyf"][cmap[ord(c)]].numberOfContours > 0 for c in hangul[:50])
    full = TTFont(report.hangul_font_path())
    assert len(full.getBestCmap()) > 10_000 > 1_000 > len(cmap)  # a subset: only what the page uses


def test_report_numbers_come_from_the_artifacts(written):
    store, summary, path, data = written
    page = path.read_text(encoding="utf-8")
    shown = inspection.show(store, "run-1", top=report.TOP_TERMS)
    assert data["stages"]["tokenize"]["top_terms"] == shown["stages"]["tokenize"]["top_terms"]
    first = shown["stages"]["tokenize"]["top_terms"][0]
    assert f'<span class="term">{html.escape(first["term"])}</span></td><td class="num">{first["count"]:,}</td>' in page
    tfidf = shown["stages"]["tfidf"]["top_by_tfidf"][0]
    assert f'{tfidf["tfidf"]:,.2f}' in page
    assert f'{summary["stages"]["clean"]["rows"]:,}' in page
    projection = data["projection"]
    assert len(projection["words"]) == report.PROJECTED_WORDS and 0 < sum(projection["explained"]) <= 1
    markdown = report.report_markdown(data, path)
    assert f"| {first['term']} | {first['count']:,} |" in markdown and str(path) in markdown


def test_charts_draw_korean_with_the_bundled_font():
    """matplotlib warns about every glyph a font lacks: none with the bundled font, some with
    matplotlib's own DejaVu Sans (the check can fail)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report.bar_chart("빈도 상위 토큰", ["대한민국", "헌법", "국회"], [3, 2, 1], "#2b6cb0")
        report.projection_chart("단어 벡터", {"words": ["국민", "법률", "대통령"], "x": [0, 1, 2], "y": [1, 0, 2],
                                             "explained": [0.5, 0.3]})
    assert not [w for w in caught if "missing from font" in str(w.message)]

    from matplotlib.font_manager import FontProperties

    figure = report._figure(2, 1)
    figure.text(0.1, 0.5, "대한민국", fontproperties=FontProperties(fname=str(DEJAVU)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report._png(figure)
    assert [w for w in caught if "missing from font" in str(w.message)]


# ------------------------------------------------------------------------------- headless Chromium
PROBE = """<script>
document.fonts.ready.then(() => {
  const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; };
  const out = {
    height: document.documentElement.scrollHeight,
    images: [...document.images].map(i => ({id: i.id, box: box(i), natural: [i.naturalWidth, i.naturalHeight]})),
    terms: [...document.querySelectorAll('.term')].map(e => ({text: e.textContent, box: box(e)})),
    fonts: [...document.fonts].map(f => [f.family, f.status]),
  };
  const pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script></body>"""


class Chromium:
    """Headless Chromium with a private profile and a private fontconfig that knows only DejaVu
    Sans: nothing on this machine can supply Hangul glyphs but the page itself."""

    def __init__(self, tmp: Path) -> None:
        if not Path(CHROMIUM).exists():
            pytest.fail("chromium is not installed: `apt-get install -y chromium` (the CI script does this)")
        fonts = tmp / "fonts"
        fonts.mkdir()
        shutil.copy(DEJAVU, fonts)
        config = tmp / "fonts.conf"
        config.write_text(
            f'<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig><dir>{fonts}</dir>'
            f"<cachedir>{tmp / 'fontcache'}</cachedir></fontconfig>"
        )
        self.tmp = tmp
        self.env = {"FONTCONFIG_FILE": str(config), "HOME": str(tmp), "PATH": "/usr/bin:/bin"}
        self.runs = 0

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        self.runs += 1
        command = [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={self.tmp / f'profile-{self.runs}'}", "--hide-scrollbars",
            "--force-device-scale-factor=1", "--virtual-time-budget=10000", *args,
        ]
        return subprocess.run(command, capture_output=True, text=True, env=self.env, timeout=120, check=True)

    def render(self, page: str, name: str, width: int = 1280) -> tuple[np.ndarray, dict]:
        """The page as a full-height grayscale screenshot, and where its images and terms are."""
        from PIL import Image

        probe_file = self.tmp / f"{name}-probe.html"
        probe_file.write_text(page.replace("</body>", PROBE), encoding="utf-8")
        dom = self._run(f"--window-size={width},900", "--dump-dom", probe_file.as_uri()).stdout
        match = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
        assert match, f"the probe script did not run: {dom[-500:]}"
        probe = json.loads(html.unescape(match.group(1)))
        page_file = self.tmp / f"{name}.html"
        page_file.write_text(page, encoding="utf-8")
        png = self.tmp / f"{name}.png"
        self._run(f"--window-size={width},{probe['height']}", f"--screenshot={png}", page_file.as_uri())
        return np.asarray(Image.open(png).convert("L"), dtype=np.float64), probe


def _crop(image: np.ndarray, box: list[float]) -> np.ndarray:
    left, top, width, height = box
    return image[int(np.floor(top)) : int(np.ceil(top + height)), int(np.floor(left)) : int(np.ceil(left + width))]


def _difference(first: np.ndarray, second: np.ndarray) -> float:
    """Mean absolute difference of two crops (0 = identical, 255 = opposite); crops of different
    sizes are compared over their common top-left part."""
    rows, cols = min(first.shape[0], second.shape[0]), min(first.shape[1], second.shape[1])
    return float(np.abs(first[:rows, :cols] - second[:rows, :cols]).mean())


def _same_length_hangul_terms(probe: dict, count: int = 4) -> list[dict]:
    """The first `count` distinct all-Hangul terms of the most common length (the top-terms table)."""
    terms = [t for t in probe["terms"] if HANGUL.match(t["text"])]
    lengths = [len(t["text"]) for t in terms]
    common = max(set(lengths), key=lengths.count)
    chosen: dict[str, dict] = {}
    for term in terms:
        if len(term["text"]) == common and term["text"] not in chosen:
            chosen[term["text"]] = term
    assert len(chosen) >= count
    return list(chosen.values())[:count]


@pytest.mark.slow
def test_chromium_draws_the_charts_and_hangul_glyphs_not_boxes(written, tmp_path):
    page = written[2].read_text(encoding="utf-8")
    chromium = Chromium(tmp_path)
    image, probe = chromium.render(page, "report")

    # The page used its embedded font, and every chart decoded and drew something.
    assert [report.FONT_FAMILY, "loaded"] in probe["fonts"]
    assert {i["id"] for i in probe["images"]} == CHARTS
    for chart in probe["images"]:
        assert chart["natural"][0] > 200 and chart["box"][2] > 200, chart
        pixels = _crop(image, chart["box"])
        assert pixels.size and pixels.std() > 20, chart["id"]
        assert (pixels < 200).mean() > 0.02, chart["id"]  # ink: bars, points, labels
        assert len(np.unique(pixels)) > 30, chart["id"]
    blank = image[:, -40:]  # the right margin: what "nothing drawn" looks like
    assert blank.std() < 1

    # The same page with a font that has no Hangul (DejaVu Sans, and no fallback on this fontconfig):
    control_face = "url(data:font/ttf;base64," + base64.b64encode(DEJAVU.read_bytes()).decode() + ") format('truetype')"
    control = re.sub(r"url\(data:font/woff;base64,[A-Za-z0-9+/=]+\) format\('woff'\)", lambda _: control_face, page)
    assert control != page
    boxes_image, boxes_probe = chromium.render(control, "control")

    terms = _same_length_hangul_terms(probe)
    texts = [t["text"] for t in terms]
    control_terms = {t["text"]: t for t in boxes_probe["terms"]}
    glyphs = [_crop(image, t["box"]) for t in terms]
    boxes = [_crop(boxes_image, control_terms[text]["box"]) for text in texts]
    # Boxes: different words look the same. Glyphs: different words look different.
    box_differences = [_difference(boxes[0], other) for other in boxes[1:]]
    glyph_differences = [_difference(glyphs[0], other) for other in glyphs[1:]]
    assert max(box_differences) < 3, (texts, box_differences)
    assert min(glyph_differences) > 8, (texts, glyph_differences)
    # And each word drawn with the report's font differs from its boxes.
    assert min(_difference(g, b) for g, b in zip(glyphs, boxes)) > 8
    assert all((g < 128).mean() > 0.05 for g in glyphs)  # dark strokes, not an empty span


def test_a_run_of_some_stages_gets_the_sections_it_has(written):
    store, summary, _, _ = written
    partial = dict(summary, run_id="partial",
                   stages={k: v for k, v in summary["stages"].items() if k in ("clean", "tokenize")})
    page = report.render_html(report.report_data(store, RunRecord.model_validate(partial)))
    assert set(re.findall(r'<img id="([^"]+)"', page)) == {
        "chart-top-frequency", "chart-tokens-per-document", "chart-characters-per-token"}
    assert "word2vec" not in page and "TF-IDF" not in page
