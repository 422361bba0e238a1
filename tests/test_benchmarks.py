"""CI smoke run of the benchmark suite at the smallest size: it runs and writes its results (timings not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_benchmark_suite_runs_and_writes_its_results(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(output.read_text())
    rows = {row["shape"]: row for row in results["latency"]}
    assert set(rows) == {"synthea-shifted", "dense-bh"}
    for row in rows.values():
        assert 90 <= row["resources"] <= 110 and row["order-sign"]["runs"] > 0
        assert row["encounter-discharge"]["ratio_to_floor"] > 0 and row["encounter-discharge-1"]["p90_to_median"] > 0
    memory = results["memory"]
    assert memory["calls"] == 20 and memory["peak_rss_mb_large_call"] > 0
    assert results["throughput"]["requests"] > 0 and results["throughput"]["errors"] == 0
    assert results["throughput"]["startup_seconds"] > 0
    (discharge,) = [row for row in results["fetch"] if row["hook"] == "encounter-discharge"]
    assert discharge["fhir_requests"] >= 16 and discharge["resources"] > 0
    assert "service / floor" in done.stdout
