"""QR decoding benchmark: real photographs and seeded synthetic camera frames, per backend.

Run from the repository root: `.venv/bin/python bench/decode.py [--quick] [--seed N]`.

Sets:
- real: the ZXing blackbox photographs in ../shared/datasets/zxing-blackbox-qr (145, exact text);
- synthetic 720p: 14 categories x 20 frames (FIELD-NOTES section 3 generator,
`hardware.decoding.synthetic`);
- synthetic 1080p: nominal and empty frames with modules x1.5.
Configurations (all in this process, same frames):
- baseline: plain pyzbar on the full frame;
- pyzbar: half scale, full scale, inverted (the alternative backend);
- zxing: one zxing-cpp pass (QR only);
- pipeline: the scanner's live path (`default_pipeline`): zxing, retries on a detected-but-undecoded
  symbol, and a deep pass on an idle frame at most every 0.5 s, replayed on a 30 fps frame clock;
- pipeline-nodeep: the same without the periodic deep pass (each frame on its own);
- thorough: the full cascade on every miss (still images, `locker-agent scan`).
Reported: decoded / total, misreads (a code with the wrong text), false positives on empty frames,
median / p90 / max ms for frames with and without a code, and ratios against the baseline.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from hardware.decoding.backends import make_decoder
from hardware.decoding.pipeline import FramePipeline, default_pipeline
from hardware.decoding.port import Gray
from hardware.decoding.synthetic import CATEGORIES, synthetic_set
from hardware.decoding.zbar import PyzbarDecoder
from hardware.decoding.zxing import ZxingDecoder

DATASET = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "zxing-blackbox-qr"
FRAME_PERIOD_S = 1 / 30

# (frame, expected text or None, category)
Sample = tuple[Gray, str | None, str]


@dataclass
class Tally:
    """Outcome of one configuration on one set."""

    decoded: int = 0
    with_code: int = 0
    misreads: int = 0
    false_positives: int = 0
    empties: int = 0
    deep_passes: int = 0
    ms_code: list[float] = field(default_factory=list)
    ms_empty: list[float] = field(default_factory=list)
    per_category: dict[str, int] = field(default_factory=dict)


Runner = Callable[[Gray], tuple[list[str], float, bool]]


def _runner(build: Callable[[], FramePipeline]) -> Callable[[], Runner]:
    """A factory of fresh runners: the live pipeline keeps deep-pass state between frames."""

    def fresh() -> Runner:
        pipeline = build()

        def run(gray: Gray) -> tuple[list[str], float, bool]:
            result = pipeline.process(gray)
            return [c.text for c in result.codes], result.ms, result.deep

        return run

    return fresh


def _frame_clock() -> Callable[[], float]:
    ticks = iter(range(10**9))
    return lambda: next(ticks) * FRAME_PERIOD_S


def make_configs() -> dict[str, Callable[[], Runner]]:
    return {
        "baseline": _runner(lambda: FramePipeline(PyzbarDecoder(passes=("full",)))),
        "pyzbar": _runner(lambda: FramePipeline(PyzbarDecoder())),
        "zxing": _runner(lambda: FramePipeline(ZxingDecoder())),
        "pipeline": _runner(lambda: default_pipeline(clock=_frame_clock())),
        "pipeline-nodeep": _runner(lambda: default_pipeline(deep_interval_s=None)),
        "thorough": _runner(lambda: FramePipeline(make_decoder("zxing", thorough=True))),
    }


def real_samples() -> list[Sample]:
    samples: list[Sample] = []
    for image in sorted(DATASET.resolve().glob("qrcode-*/*.png")):
        expected = image.with_suffix(".txt")
        gray = cv2.imread(str(image), cv2.IMREAD_GRAYSCALE)
        if gray is None or not expected.is_file():
            continue
        # Bytes, not read_text: several expected texts hold \r\n that must match exactly.
        samples.append((np.asarray(gray), expected.read_bytes().decode("utf-8"), image.parent.name))
    return samples


def synthetic_samples(seed: int, per_category: int, *, hd: bool = False) -> Iterator[Sample]:
    if hd:
        frames = synthetic_set(
            seed=seed,
            per_category=per_category,
            size=(1920, 1080),
            module_scale=1.5,
            categories=("nominal", "empty"),
        )
    else:
        frames = synthetic_set(seed=seed, per_category=per_category)
    for frame in frames:
        yield frame.gray, frame.text, frame.category


def measure(run: Runner, samples: Iterable[Sample]) -> Tally:
    tally = Tally()
    for gray, expected, category in samples:
        texts, ms, deep = run(gray)
        tally.deep_passes += deep
        if expected is None:
            tally.empties += 1
            tally.false_positives += bool(texts)
            tally.ms_empty.append(ms)
            continue
        tally.with_code += 1
        tally.ms_code.append(ms)
        hit = expected in texts
        tally.decoded += hit
        tally.misreads += any(t != expected for t in texts)
        tally.per_category[category] = tally.per_category.get(category, 0) + hit
    return tally


def stats(values: list[float]) -> str:
    if not values:
        return "       -        -        -"
    p90 = float(np.percentile(values, 90))
    return f"{statistics.median(values):8.2f} {p90:8.2f} {max(values):8.1f}"


def report(title: str, tallies: dict[str, Tally]) -> None:
    print(f"\n## {title}")
    print(
        f"{'config':16} {'decoded':>9} {'misread':>7} {'FP':>6} {'deep':>5}"
        f"   code ms: med      p90      max   empty ms: med      p90      max"
        f"   x faster (code/empty)"
    )
    base = tallies["baseline"]
    for name, t in tallies.items():
        speed = "-"
        if t.ms_code and base.ms_code:
            speed = f"{statistics.median(base.ms_code) / statistics.median(t.ms_code):.1f}"
        if t.ms_empty and base.ms_empty:
            speed += f" / {statistics.median(base.ms_empty) / statistics.median(t.ms_empty):.1f}"
        fp = f"{t.false_positives}/{t.empties}" if t.empties else "-"
        print(
            f"{name:16} {t.decoded:4}/{t.with_code:<4} {t.misreads:7} {fp:>6} {t.deep_passes:5}"
            f"   {stats(t.ms_code)}   {stats(t.ms_empty)}   {speed}"
        )


def category_table(tallies: dict[str, Tally], per_category: int) -> None:
    names = list(tallies)
    print(f"\n{'category':18}" + "".join(f"{n[:15]:>16}" for n in names))
    for category in CATEGORIES[:-1]:
        row = "".join(
            f"{tallies[n].per_category.get(category, 0):>13}/{per_category:<2}" for n in names
        )
        print(f"{category:18}{row}")


def run_set(samples: list[Sample], configs: dict[str, Callable[[], Runner]]) -> dict[str, Tally]:
    return {name: measure(factory(), samples) for name, factory in configs.items()}


def check_targets(real: dict[str, Tally] | None, synth: dict[str, Tally]) -> bool:
    p = synth["pipeline"]
    rows = [
        (
            "synthetic decoded >= 95% (no empties)",
            p.decoded >= 0.95 * p.with_code,
            f"{p.decoded}/{p.with_code} = {100 * p.decoded / p.with_code:.1f}%",
        ),
        (
            "median ms, frame with a code <= 3",
            statistics.median(p.ms_code) <= 3.0,
            f"{statistics.median(p.ms_code):.2f}",
        ),
        (
            "median ms, empty frame <= 2",
            statistics.median(p.ms_empty) <= 2.0,
            f"{statistics.median(p.ms_empty):.2f}",
        ),
        (
            "false positives on empty frames == 0",
            p.false_positives == 0,
            f"{p.false_positives}/{p.empties}",
        ),
    ]
    if real is not None:
        r = real["pipeline"]
        rows.insert(0, ("real photos >= 136/145", r.decoded >= 136, f"{r.decoded}/{r.with_code}"))
    print("\n## Targets (default pipeline)")
    for label, ok, value in rows:
        print(f"  [{'PASS' if ok else 'MISS'}] {label:42} {value}")
    return all(ok for _, ok, _ in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 frames per category, skip 1080p")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    per_category = 5 if args.quick else 20
    configs = make_configs()
    print(f"QR decode benchmark: seed {args.seed}, {per_category} synthetic frames per category")

    real_tallies = None
    real = real_samples()
    if real:
        real_tallies = run_set(real, configs)
        report(f"Real photographs ({len(real)}, {DATASET.resolve()})", real_tallies)
    else:
        print(f"\n(real photographs not found at {DATASET.resolve()}: skipped)")

    synth = list(synthetic_samples(args.seed, per_category))
    synth_tallies = run_set(synth, configs)
    report(f"Synthetic 1280x720 ({len(synth)} frames, 14 categories)", synth_tallies)
    category_table(synth_tallies, per_category)

    if not args.quick:
        hd = list(synthetic_samples(args.seed, per_category, hd=True))
        hd_configs = {k: configs[k] for k in ("baseline", "zxing", "pipeline")}
        report(f"Synthetic 1920x1080 ({len(hd)} frames: nominal, empty)", run_set(hd, hd_configs))

    check_targets(real_tallies, synth_tallies)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
