"""Run every benchmark, print a table and write benchmarks/results.json: ``python -m benchmarks.run [--smoke]``."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import engine, latency, memory, serving
from benchmarks.latency import requests_for
from benchmarks.shapes import available_shapes

RESULTS = Path(__file__).resolve().parent / "results.json"
FULL = {
    "sizes": [100, 1000, 10000],
    "runs": {100: 40, 1000: 25, 10000: 10},
    "engine_runs": 3,
    "load_seconds": 30.0,
    "load_size": 1000,
    "load_shape": "dense-bh",
    "memory": {"calls": 2000, "checkpoint": 200, "size": 1000, "large": 10000, "shape": "dense-bh"},
}
SMOKE = {
    "sizes": [100],
    "runs": {100: 5},
    "engine_runs": 3,
    "load_seconds": 2.0,
    "load_size": 100,
    "load_shape": "dense-bh",
    "memory": {"calls": 20, "checkpoint": 5, "size": 100, "large": 100, "shape": "dense-bh"},
}
SMOKE_SHAPES = ["synthea-shifted", "dense-bh"]
"""The smoke run skips PySynthea: generating its patients takes a minute and needs the ``bench`` extra."""
CLIENTS = 8


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }


def throughput(scratch: str, size: int, seconds: float, shape: str) -> dict[str, Any]:
    """Start-up of ``iop-cds serve`` and requests/s for order-sign on a record of ``size`` resources, with as many
    workers as cores and 8 concurrent clients."""
    workers = os.cpu_count() or 1
    # The first start parses the mapping YAML and fills the parsed-YAML cache; a restart reads it (engine.yaml_cache).
    cache = {"IOP_CDS_YAML_CACHE_DIR": f"{scratch}/yaml-cache"}
    with serving.served(workers, scratch, env=cache) as (_base, cold_seconds, _master):
        pass
    with serving.served(workers, scratch, env=cache) as (base, startup_seconds, _master):
        from cds_service.config import POLICY_KEYS

        policies = [p for p in POLICY_KEYS if p in serving_policies(base)]
        body = json.dumps(requests_for(size, policies, shape)["order-sign"]).encode()
        result = serving.load(f"{base}/cds-services/iop-order-sign", body, seconds, concurrency=CLIENTS)
    return {
        "startup_seconds": round(startup_seconds, 3),
        "startup_cold_seconds": round(cold_seconds, 3),
        "workers": workers,
        "size": size,
        "shape": shape,
        **result,
    }


def serving_policies(base: str) -> list[str]:
    """The policies a running service loaded."""
    import requests

    return list(requests.get(f"{base}/healthz", timeout=5).json()["policies"])


def print_table(results: dict[str, Any]) -> None:
    """The figures as a plain-text table."""
    print(
        f"machine: {results['machine']['platform']}, {results['machine']['cpus']} CPUs, "
        f"Python {results['machine']['python']}"
    )
    print("\nlatency (in-process, full prefetch): median ms, service / floor, p90 / median")
    print("all = every policy, 1 = one policy")
    names = [("order-sign", "order all"), ("order-sign-1", "order 1"), ("encounter-discharge", "disch all")]
    names.append(("encounter-discharge-1", "disch 1"))
    header = f"{'shape':<16}{'resources':>9} {'floor':>8}" + "".join(f" {label:>22}" for _, label in names)
    print(header)
    for row in results["latency"]:
        cells = "".join(
            f" {row[k]['median_ms']:>9.1f} {row[k]['ratio_to_floor']:>5.2f}x {row[k]['p90_to_median']:>5.2f}"
            for k, _ in names
        )
        print(f"{row['shape']:<16}{row['resources']:>9} {row['floor']['median_ms']:>8.1f}{cells}")
    print("\nCPU time of the process (robust on a shared machine): median ms, service / floor")
    print(header)
    for row in results["latency"]:
        cells = "".join(
            f" {row[k]['cpu_median_ms']:>9.1f} {row[k]['cpu_ratio_to_floor']:>5.2f}x {'':>5}" for k, _ in names
        )
        print(f"{row['shape']:<16}{row['resources']:>9} {row['floor']['cpu_median_ms']:>8.1f}{cells}")
    for shape, by_hook in results.get("growth", {}).items():
        text = ", ".join(f"{hook} x{ratio}" for hook, ratio in by_hook.items())
        print(f"growth 1,000 -> 10,000 resources ({shape}): {text}")
    print("\nengine only (encounter-discharge, one policy at a time), median ms")
    keys = [k for k in results["engine"][0] if k not in ("size", "shape")]
    print(f"{'shape':<16}{'resources':>9} " + " ".join(f"{k:>11}" for k in keys))
    for row in results["engine"]:
        print(f"{row['shape']:<16}{row['size']:>9} " + " ".join(f"{row[k]:>11.2f}" for k in keys))
    t = results.get("throughput")
    if t:
        print(
            f"\nstart-up to first /healthz 200: {t['startup_seconds']:.2f} s "
            f"(first start, parsing the mapping YAML: {t.get('startup_cold_seconds', 0):.2f} s)"
        )
        print(
            f"throughput, order-sign {t['shape']} {t['size']} resources, {t['workers']} workers, "
            f"{t['concurrency']} clients, {t['seconds']} s: {t['requests_per_second']} req/s, "
            f"median {t['median_ms']} ms, "
            f"p99 {t['p99_ms']} ms, errors {t['errors']}"
        )
    m = results.get("memory")
    if m:
        print(
            f"\nmemory, one worker, order-sign {m['shape']} {m['size']} resources: RSS MB by call {m['rss_mb']}, "
            f"growth after call {m['checkpoint']}: {100 * m['growth_after_checkpoint']:.1f} %; "
            f"peak RSS with one {m['large_size']}-resource call {m['peak_rss_mb_large_call']} MB "
            f"(before it {m['peak_rss_mb_before_large']} MB)"
        )
    f = results.get("fetch")
    if f:
        print("\nfetch mode (no prefetch, real FHIR server)")
        for row in f:
            print(
                f"  {row['hook']:<20} {row['resources']:>6} resources: wall {row['wall_ms']:.1f} ms, "
                f"{row['fhir_requests']} FHIR requests, slowest query {row['slowest_query_ms']:.1f} ms, "
                f"evaluation {row['evaluation_ms']:.1f} ms, wall / (slowest query + evaluation) = "
                f"{row['ratio_to_slowest_plus_evaluation']:.2f}"
            )


def growth(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per shape: latency at 10,000 resources over the one at 1,000."""
    by_key = {(row["shape"], row["size"]): row for row in rows}
    out: dict[str, dict[str, float]] = {}
    for shape in dict.fromkeys(row["shape"] for row in rows):
        if (shape, 1000) in by_key and (shape, 10000) in by_key:
            large, small = by_key[shape, 10000], by_key[shape, 1000]
            out[shape] = {h: round(large[h]["median_ms"] / small[h]["median_ms"], 2) for h in latency.SERVICE_ENDPOINTS}
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the suite; ``--smoke`` runs the smallest size briefly (CI checks it runs, not its timings)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run")
    parser.add_argument("--smoke", action="store_true", help="smallest size, few runs (CI)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--skip-fetch", action="store_true", help="skip fetch mode (needs the sekmet-fhir server)")
    parser.add_argument("--skip-memory", action="store_true", help="skip the 2,000-call memory run")
    parser.add_argument("--skip-load", action="store_true", help="skip start-up and throughput")
    parser.add_argument("--shapes", nargs="+", help="record shapes (default: every available one)")
    parser.add_argument("--sizes", nargs="+", type=int, help="record sizes (default: 100 1000 10000)")
    args = parser.parse_args(argv)
    plan = SMOKE if args.smoke else FULL
    shapes = args.shapes or (SMOKE_SHAPES if args.smoke else available_shapes())
    sizes = args.sizes or plan["sizes"]
    with tempfile.TemporaryDirectory() as scratch:
        results: dict[str, Any] = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "smoke": args.smoke,
        }
        results["shapes"] = shapes
        results["engine"] = engine.run(sizes, plan["engine_runs"], shapes)
        runs = {size: plan["runs"].get(size, 10) for size in sizes}
        results["latency"] = latency.run(sizes, runs, scratch, shapes)
        results["growth"] = growth(results["latency"])
        if not args.skip_load:
            results["throughput"] = throughput(scratch, plan["load_size"], plan["load_seconds"], plan["load_shape"])
        if not args.skip_memory:
            results["memory"] = memory.run(scratch, **plan["memory"])
        if not args.skip_fetch:
            from benchmarks import fetch

            results["fetch"] = fetch.run(sizes, scratch)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print_table(results)
    print(f"\nwritten: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
