"""Population audit throughput and memory: ``python -m benchmarks.audit [--sizes 1000 10000] [--workers 1 2]``.

For each size, writes a known-truth export with ``tools/make_population.py`` (PySynthea records from
``tests/fixtures/synthea`` reused under fresh ids, a share of them with an IOP episode), then runs the audit on a
LocalCluster of worker processes, once per worker count. Prints patients per second, the peak resident memory of
the busiest worker (overall and when the shuffle stage ended, before any patient was evaluated), and the scaling from
the fewest to the most workers. Not part of ``benchmarks/run.py`` and not a
test: it takes minutes per size on a small machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import make_population  # noqa: E402

from cds_service.audit.job import run_audit  # noqa: E402
from cds_service.config import Settings  # noqa: E402

SYNTHEA = ROOT / "tests" / "fixtures" / "synthea"


def write_population(folder: Path, patients: int, episode_share: float, seed: int) -> float:
    """A Bulk export of ``patients`` patients (streamed to disk); returns its size in MB."""
    make_population.write_population(
        folder, patients, round(patients * episode_share), seed=seed, synthea_seed=seed, synthea_bundles=SYNTHEA
    )
    return sum(p.stat().st_size for p in folder.glob("*.ndjson")) / 1e6


def main(argv: list[str] | None = None) -> int:
    """Run every size x worker count and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000], help="patients per export")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to compare")
    parser.add_argument("--episode-share", type=float, default=0.1, help="share of patients with an IOP episode")
    parser.add_argument("--seed", type=int, default=1414)
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument(
        "--exports",
        type=Path,
        help="keep the exports here; a later run reuses one of the same size (same --seed, --episode-share)",
    )
    args = parser.parse_args(argv)
    settings = Settings.from_env(auth=False)
    rows = []
    with tempfile.TemporaryDirectory(prefix="iop-audit-bench-") as scratch:
        for size in args.sizes:
            export = (args.exports or Path(scratch)) / f"export-{size}"
            started = time.perf_counter()
            if args.exports and (export / "truth.json").exists():  # written whole by an earlier run (truth comes last)
                megabytes = sum(p.stat().st_size for p in export.glob("*.ndjson")) / 1e6
                print(f"# {size} patients: {megabytes:.0f} MB NDJSON reused from {export}")
            else:
                megabytes = write_population(export, size, args.episode_share, args.seed)
                print(f"# {size} patients: {megabytes:.0f} MB NDJSON written in {time.perf_counter() - started:.0f} s")
            for workers in args.workers:
                out = Path(scratch) / f"out-{size}-{workers}"
                load_before = os.getloadavg()[0]
                summary = run_audit(
                    export,
                    out,
                    settings=settings,
                    workers=workers,
                    processes=True,
                    as_of=datetime(2025, 11, 1, tzinfo=UTC),
                )
                rows.append(
                    {
                        "patients": summary.input_patients,
                        "episodes": summary.episodes,
                        "orders": summary.orders,
                        "megabytes": round(megabytes, 1),
                        "workers": workers,
                        "seconds": round(summary.seconds, 1),
                        "patients_per_second": round(summary.input_patients / summary.seconds, 2),
                        "peak_worker_mb": max(summary.peak_memory_mb.values()),
                        # VmHWM when the shuffle had ended, before any partition was evaluated: which stage sets it.
                        "peak_after_shuffle_mb": max(s["peak_mb"] for s in summary.stages["shuffle"].values()),
                        # What each worker still held after each stage (resident MB, task states, log lengths).
                        "stages": summary.stages,
                        # Other processes on the machine take CPU from the workers: the 1-minute load around the run.
                        "load": [round(load_before, 1), round(os.getloadavg()[0], 1)],
                    }
                )
                print(json.dumps(rows[-1]))
    print()
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(
        "| patients | episodes | NDJSON MB | workers | seconds | patients/s | peak memory per worker (MB) "
        "| peak when stage 1 ended (MB) | load |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['patients']} | {r['episodes']} | {r['megabytes']} | {r['workers']} | {r['seconds']} | "
            f"{r['patients_per_second']} | {r['peak_worker_mb']} | {r['peak_after_shuffle_mb']} | "
            f"{r['load'][0]}-{r['load'][1]} |"
        )
    for size in args.sizes:
        by_workers = {r["workers"]: r for r in rows if r["patients"] == size}
        low, high = min(by_workers), max(by_workers)
        if low != high:
            ratio = by_workers[high]["patients_per_second"] / by_workers[low]["patients_per_second"]
            print(f"scaling {size} patients, {low} -> {high} workers: {ratio:.2f}x")
    if len(args.sizes) > 1:
        small, large = min(args.sizes), max(args.sizes)
        peak = {s: max(r["peak_worker_mb"] for r in rows if r["patients"] == s) for s in (small, large)}
        print(f"peak worker memory {small} -> {large} patients: {peak[small]} -> {peak[large]} MB")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
