"""Benchmark: the optional clean steps of issue 20 (spacing, sentences, hanja, pii).

    .venv/bin/python bench/bench_text.py                 # kolaw + 5,000 NSMC reviews, 10,000 for timings
    .venv/bin/python bench/bench_text.py --reviews 1000  # quicker

Spacing: restored-spacing F1 against the original, counting space positions between non-space
characters, for konlpy's kolaw (constitution, well spaced) and NSMC test reviews (as written by
users), each (a) with every space removed, (b) with every other space removed at random (text
partly glued, as chat often is) and (c) as written; koprep's `spacing = "kiwi"` against
Kiwi's `space()` called on the whole text (the baseline, measured in the same run).
PII: precision and recall on a set generated here from the formats' rules (random valid numbers
of each kind in Korean sentences) and look-alikes (dates, prices, times, order, article and
ISBN numbers, cards failing Luhn, RRNs with a wrong check digit).
Cost: seconds per 100,000 NSMC reviews of each step, against the default cleaning, in this
process on one core (no Prefect server involved).
"""

from __future__ import annotations

import argparse
import os
import random
import time
import warnings

import pandas as pd

from koprep.stages.clean import CleanParams, clean_texts
from koprep.stages.kiwi_text import _kiwi

NSMC = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "corpora", "nsmc", "ratings_test.txt")


def spaces(text: str) -> set[int]:
    found, position = set(), 0
    for char in text:
        if char == " ":
            found.add(position)
        elif not char.isspace():
            position += 1
    return found


def f1(references: list[str], outputs: list[str]) -> tuple[float, float, float]:
    tp = fp = fn = 0
    for reference, output in zip(references, outputs):
        want, got = spaces(reference), spaces(output)
        tp, fp, fn = tp + len(want & got), fp + len(got - want), fn + len(want - got)
    precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    return round(2 * precision * recall / max(precision + recall, 1e-9), 4), round(precision, 4), round(recall, 4)


# Only the spacing step: the other steps (character filter, repeats) would change the text compared.
ONLY_SPACING = CleanParams(html="keep", remove_invisible=False, fullwidth_to_halfwidth=False, nfc=False,
                           unify_punctuation=False, urls="keep", emails="keep", mentions="keep", filter_chars=False,
                           emoticon_normalize=False, repeat_normalize=0, spacing="kiwi")


def bench_spacing(texts: dict[str, list[str]]) -> None:
    kiwi = _kiwi()
    print("spacing F1 (precision, recall) against the original")
    for name, lines in texts.items():
        lines = [" ".join(line.split()) for line in lines if line.strip()]
        glued = [line.replace(" ", "") for line in lines]
        rng = random.Random(1)
        half = ["".join(char if char != " " or rng.random() < 0.5 else "" for char in line) for line in lines]
        for label, inputs in (("spaces removed", glued), ("half removed", half), ("as written", lines)):
            koprep = clean_texts(inputs, ONLY_SPACING)
            everything = [" ".join(kiwi.space(text, reset_whitespace=False).split()) for text in inputs]
            print(f"  {name:<6} {label:<15} koprep {f1(lines, koprep)}   Kiwi space() on everything {f1(lines, everything)}"
                  f"   ({len(lines)} texts)")


def _rrn(rng: random.Random, new: bool) -> str:
    year, month, day = (rng.randint(21, 24), rng.randint(1, 12), rng.randint(1, 28)) if new else \
        (rng.randint(40, 99), rng.randint(1, 12), rng.randint(1, 28))
    first = f"{year:02d}{month:02d}{day:02d}{rng.choice('34' if new else '12')}{rng.randint(0, 99999):05d}"
    if new:
        return f"{first[:6]}-{first[6:]}{rng.randint(0, 9)}"
    weights = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
    check = (11 - sum(int(d) * w for d, w in zip(first, weights)) % 11) % 10
    return f"{first[:6]}-{first[6:]}{check}"


def _card(rng: random.Random) -> str:
    digits = [rng.choice([4, 5, 9])] + [rng.randint(0, 9) for _ in range(14)]
    total = sum((d * 2 - 9 if d > 4 else d * 2) if i % 2 == 0 else d for i, d in enumerate(reversed(digits)))
    digits.append((10 - total % 10) % 10)
    text = "".join(map(str, digits))
    return rng.choice(["-", " ", ""]).join(text[i:i + 4] for i in range(0, 16, 4))


def _wrong_last_digit(number: str) -> str:
    return number[:-1] + str((int(number[-1]) + rng_offset) % 10)


rng_offset = 3


def pii_cases(rng: random.Random, count: int) -> tuple[list[tuple[str, str]], list[str]]:
    """(sentence, kind) positives and look-alike negatives."""
    d = lambda n: "".join(str(rng.randint(0, 9)) for _ in range(n))  # noqa: E731
    makers = {
        "rrn": lambda: _rrn(rng, rng.random() < 0.3),
        "phone": lambda: rng.choice([f"010-{d(4)}-{d(4)}", f"010{d(8)}", f"02-{d(3)}-{d(4)}", f"031.{d(3)}.{d(4)}",
                                     f"070 {d(4)} {d(4)}", f"1588-{d(4)}", f"+82-10-{d(4)}-{d(4)}"]),
        "card": lambda: _card(rng),
        "account": lambda: rng.choice(["국민은행 ", "신한 ", "입금 계좌 ", "농협 "]) + rng.choice(
            [f"{d(6)}-{d(2)}-{d(6)}", f"110-{d(3)}-{d(6)}", f"1002-{d(3)}-{d(6)}", f"301-{d(4)}-{d(4)}-{d(2)}"]),
        "email": lambda: f"user{d(3)}@{rng.choice(['naver.com', 'gmail.com', 'daum.net'])}",
        "ip": lambda: ".".join(str(rng.randint(0, 255)) for _ in range(4)),
    }
    frames = ["연락은 {} 로 주세요", "{} 입니다", "제 정보: {} 확인 바랍니다", "문의 {}"]
    positives = [(rng.choice(frames).format(makers[kind]()), kind) for kind in makers for _ in range(count)]
    looks = [
        lambda: f"{rng.randint(1990, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} 공고",
        lambda: f"{rng.randint(1990, 2024)}.{rng.randint(1, 12):02d}.{rng.randint(1, 28):02d}. 시행",
        lambda: f"가격 {rng.randint(1, 999):,},{rng.randint(0, 999):03d}원",
        lambda: f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d} 출발",
        lambda: f"헌법 제{rng.randint(1, 130)}조 제{rng.randint(1, 5)}항", lambda: f"법률 제{d(5)}호",
        lambda: f"주문번호 {rng.randint(2015, 2024)}-{d(4)}-{d(4)}", lambda: f"주문번호 {rng.randint(2015, 2024)}{d(4)}-{d(7)}",
        lambda: f"송장번호 {d(4)}-{d(4)}-{d(4)}", lambda: f"ISBN 978-89-{d(3)}-{d(4)}-{d(1)}",
        lambda: f"버전 {rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 20)}",
        lambda: f"카드 {_wrong_last_digit(_card(rng))}",  # fails Luhn
        lambda: f"주민번호 {_wrong_last_digit(_rrn(rng, False))}",  # wrong check digit (born before 2020-10)
    ]
    negatives = [rng.choice(looks)() for _ in range(count * 6)]
    return positives, negatives


def bench_pii(count: int) -> None:
    rng = random.Random(20)
    positives, negatives = pii_cases(rng, count)
    params = CleanParams(pii=("rrn", "phone", "card", "account", "email", "ip"), keep_chars="-.:,")
    print(f"pii: {len(positives)} positives ({count} per kind), {len(negatives)} look-alike negatives")
    found = clean_texts([text for text, _ in positives], params)
    for kind in ("rrn", "phone", "card", "account", "email", "ip"):
        hits = sum(f"<{kind}>" in out for out, (_, k) in zip(found, positives) if k == kind)
        print(f"  {kind:<8} recall {hits / count:.3f}")
    masked_negatives = [out for out in clean_texts(negatives, params) if "<" in out]
    true_positives = sum(any(f"<{k}>" in out for k in ("rrn", "phone", "card", "account", "email", "ip"))
                         for out in found)
    print(f"  all      recall {true_positives / len(positives):.3f}  precision "
          f"{true_positives / (true_positives + len(masked_negatives)):.3f}  masked look-alikes {len(masked_negatives)}"
          f" (e.g. {masked_negatives[:3]})")


def bench_cost(reviews: list[str]) -> None:
    per = 100_000 / len(reviews)
    base = CleanParams()
    steps = {
        "default cleaning": base, "+ pii (all kinds)": CleanParams(pii=("rrn", "phone", "card", "account", "email", "ip")),
        "+ hanja=hangul": CleanParams(hanja="hangul"), "+ spacing=kiwi": CleanParams(spacing="kiwi"),
        "+ sentences=kiwi": CleanParams(sentences="kiwi"),
    }
    clean_texts(reviews[:100] + ["大韓民國"], CleanParams(spacing="kiwi", sentences="kiwi", hanja="hangul"))  # load Kiwi, hanja
    print(f"cost per 100,000 NSMC reviews (measured on {len(reviews):,}, one core)")
    baseline = None
    for label, params in steps.items():
        started = time.perf_counter()
        clean_texts(reviews, params)
        seconds = (time.perf_counter() - started) * per
        baseline = baseline or seconds
        print(f"  {label:<18} {seconds:7.1f} s   x{seconds / baseline:.1f} the default")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reviews", type=int, default=5000)
    parser.add_argument("--timing-reviews", type=int, default=10_000)
    parser.add_argument("--pii-per-kind", type=int, default=500)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    print(f"cores {os.cpu_count()}, load {os.getloadavg()[0]:.2f}; no Prefect server (steps called directly)")
    from konlpy.corpus import kolaw

    law = [line for line in kolaw.open("constitution.txt").read().splitlines() if line.strip()]
    nsmc = pd.read_csv(NSMC, sep="\t")["document"].dropna().astype(str).tolist()
    random.Random(0).shuffle(nsmc)
    bench_pii(args.pii_per_kind)
    bench_spacing({"kolaw": law, "nsmc": nsmc[: args.reviews]})
    bench_cost(nsmc[: args.timing_reviews])


if __name__ == "__main__":
    main()
