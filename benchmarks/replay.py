"""Replay throughput: ``tracker replay --speed max`` of a seeded tape into a fresh SQLite file.

Prints ticks/s, wall time and peak RSS of the whole process (start-up included),
the median of ``--runs`` runs:

    python benchmarks/replay.py --ticks 200000 --runs 3
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RULES = "\n".join(
    f'[[listings.rules]]\nkind = "gain_pct"\nthreshold = {t}\ndirection = "{d}"\n'
    for t, d in [
        (50, "up"),
        (60, "up"),
        (70, "up"),
        (80, "up"),
        (90, "up"),
        (100, "up"),
        (110, "up"),
        (70, "down"),
        (60, "down"),
        (50, "down"),
    ]
)
LISTINGS = f"""[[listings]]
id = "bench"
symbol = "6082.HK"
offer_price = 19.60
shares_outstanding = 2_646_592_710

{RULES}"""


def make_tape(path: Path, ticks: int, seed: int) -> None:
    """A random walk on the 0.02 grid, one tick a second from 2026-01-02 09:30 HKT on."""
    rng = random.Random(seed)
    cents = 3570
    start = 1_767_317_400  # 2026-01-02T09:30:00+08:00
    with path.open("w") as out:
        out.write("ts,price,volume\n")
        for i in range(ticks):
            cents = max(2000, min(4400, cents + 2 * rng.randint(-2, 2)))
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(start + 8 * 3600 + i))
            out.write(f"{stamp},{cents / 100:.2f},{rng.randint(1, 50) * 100}\n")


def run_once(tape: Path, config: Path, folder: Path) -> tuple[float, int]:
    db = folder / f"bench-{time.monotonic_ns()}.db"
    command = [
        sys.executable,
        "-m",
        "tracker.cli",
        "replay",
        str(tape),
        "--listing",
        "bench",
        "--config",
        str(config),
        "--db",
        f"sqlite:///{db}",
        "--alert-log",
        str(folder / "a.jsonl"),
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, max(peak, before)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ticks", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tape, config = folder / "tape.csv", folder / "listings.toml"
        make_tape(tape, args.ticks, args.seed)
        config.write_text(LISTINGS)
        results = [run_once(tape, config, folder) for _ in range(args.runs)]
    wall = statistics.median(r[0] for r in results)
    peak_mb = max(r[1] for r in results) / 1024
    print(f"ticks            {args.ticks:,}")
    print(f"wall (median)    {wall:.2f} s over {args.runs} runs")
    print(f"throughput       {args.ticks / wall:,.0f} ticks/s")
    print(f"peak RSS         {peak_mb:,.0f} MB (largest child process)")


if __name__ == "__main__":
    main()
