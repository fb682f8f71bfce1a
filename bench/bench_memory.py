"""Peak memory against corpus size: `koprep run` cold and the hand-written way on 20,000 and on
150,000 NSMC reviews, each in its own process, peak RSS of the process tree (workers included).

koprep streams shard by shard after reading the corpus; the hand-written way holds every document,
token list and matrix, so it grows with the corpus. Same measuring code as bench_pipeline.py.

    .venv/bin/python bench/bench_memory.py --backend mecab
    .venv/bin/python bench/bench_memory.py --backend okt --sizes 20000 150000
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import koprep_run, measured, read_reviews, start_prefect_server, stop, write_tsv  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["okt", "mecab"], default="mecab")
    parser.add_argument("--sizes", type=int, nargs=2, default=[20_000, 150_000])
    args = parser.parse_args()
    small, large = args.sizes
    reviews = read_reviews(large)
    tmp = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    server = None
    rows = {}
    try:
        server, url = start_prefect_server(tmp / "prefect-home")
        env = {**os.environ, "PREFECT_API_URL": url, "PREFECT_HOME": str(tmp / "prefect-home")}
        pipeline_script = str(Path(__file__).with_name("bench_pipeline.py"))
        for size in (small, large):
            corpus = tmp / f"nsmc-{size}.tsv"
            write_tsv(reviews.head(size), corpus)
            hand = measured([sys.executable, pipeline_script, "--backend", args.backend, "--baseline-only", str(corpus)])
            koprep = koprep_run(corpus, tmp / f"artifacts-{size}", args.backend, env)
            rows[size] = (hand, koprep)
    finally:
        if server is not None:
            stop(server)
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"backend {args.backend}, cores {os.cpu_count()}, load average at the end {os.getloadavg()[0]:.1f}")
    print(f"{'reviews':>8} {'hand-written MiB':>17} {'s':>7} {'koprep cold MiB':>16} {'s':>7}")
    for size, (hand, koprep) in rows.items():
        print(f"{size:>8,} {hand['peak_mib']:>17.0f} {hand['seconds']:>7.1f} {koprep['peak_mib']:>16.0f} {koprep['seconds']:>7.1f}")
    (hand_small, koprep_small), (hand_large, koprep_large) = rows[small], rows[large]
    print(f"peak at {large:,} / peak at {small:,}: hand-written {hand_large['peak_mib'] / hand_small['peak_mib']:.2f}x, "
          f"koprep {koprep_large['peak_mib'] / koprep_small['peak_mib']:.2f}x")


if __name__ == "__main__":
    main()
