"""The Dask job: read blocks -> key by patient -> P2P shuffle (spills to disk) -> evaluate per patient -> Parquet.

Why a dask DataFrame of (patient, resource JSON) and not a bag ``groupby``: the bag's disk shuffle works only with
the single-machine scheduler, its task shuffle keeps everything in worker memory; the DataFrame's peer-to-peer
shuffle of ``dask.distributed`` writes its buckets to each worker's disk, so a worker holds one output partition
(ten patients) at a time however large the export is, on a LocalCluster or on a remote cluster alike.
Workers write their criteria rows to Parquet themselves; only one small row per episode comes back to the client.
"""

from __future__ import annotations

import ctypes
import json
import logging
import shutil
import sys
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from cds_service.audit.evaluate import AuditOptions, audit_patient
from cds_service.audit.parquet import CRITERIA_DIR, read_criteria, write_criteria, write_problems, write_targets
from cds_service.audit.report import write_report
from cds_service.audit.shared_store import SharedResources
from cds_service.audit.source import (
    Block,
    InputPlan,
    Problem,
    check_input,
    is_marker_block,
    patients_with_targets,
    plan_input,
    read_block,
    read_shared,
)
from cds_service.config import Settings

PATIENTS_PER_PARTITION = 10
"""Patients per shuffled partition: a partition's frame and rows stay the same size for any input size.

A worker's peak is the largest partition it evaluates (the frame, its copies and the patients' parsed records, on
top of what stays); with 25 patients the partitions' peaks spread over ~25 MB and the largest of more partitions was
higher. With 10 the spread is a third of that and the peak ~15 MB lower, at the cost of more, smaller shuffle shards.
"""
WORKER_CONFIG = {
    # Dask's statistical profiler keeps a call tree of every second a worker runs (up to 1,000 of them, for the
    # dashboard): over a long audit that history, not the data, made a worker's memory grow with the export.
    "distributed.worker.profile.enabled": False,
    # What a worker holds of the shuffle before sending shards on or writing them to disk (Dask's defaults, 1 GiB
    # and 100 MiB, let the shards of a large export pile up in memory).
    "distributed.p2p.comm.buffer": "32 MiB",
    "distributed.p2p.storage.buffer": "32 MiB",
}
"""Settings of the LocalCluster's workers that bound their memory (a cluster given by address keeps its own)."""
COLUMNS = ["patient", "text", "line", "file", "problem", "part"]
RESULT_COLUMNS = ["table", "payload"]
WORK_DIR = "_work"


class AuditOutputError(ValueError):
    """The output folder cannot be created or written."""


@dataclass
class AuditSummary:
    """What the run did, for the console and ``summary.json``."""

    patients_with_targets: int
    episodes: int
    orders: int
    criteria_rows: int
    problems: list[Problem]
    targets: list[dict[str, Any]]
    seconds: float
    workers: int
    peak_memory_mb: dict[str, float] = field(default_factory=dict)
    input_patients: int = 0


def _frame(rows: list[tuple[str, str, int, str, str, int]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.astype(
        {"patient": "string", "text": "string", "line": "int64", "file": "string", "problem": "string", "part": "int64"}
    )


def use_system_allocator() -> None:
    """Make Arrow allocate with the C library's malloc in this process (idempotent; its default is mimalloc).

    The shuffle reads every partition as Arrow buffers: mimalloc kept the freed pages of each (``release_unused``
    does not return them), which made a worker's memory grow with the number of partitions it read; freed malloc
    memory is returned by ``malloc_trim``. Worker processes of the LocalCluster start with it
    (``ARROW_DEFAULT_MEMORY_POOL``); this covers a worker in the command's own process or on a remote cluster.
    """
    import pyarrow as pa

    if pa.default_memory_pool().backend_name != "system":
        pa.set_memory_pool(pa.system_memory_pool())


def release_memory() -> None:
    """Hand memory freed by a task back to the system (Arrow's pool and glibc keep it for reuse otherwise).

    A worker runs hundreds of block tasks of a large export: what the allocators kept from each made its resident
    memory creep up with the number of blocks, not with what it held.
    """
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim this way
        pass


@lru_cache(maxsize=4)
def _wanted(path: str) -> dict[str, int]:
    return {patient: rank for rank, patient in enumerate(Path(path).read_text(encoding="utf-8").split())}


def _partition(patient: str, rank: int | None, partitions: int, per_partition: int) -> int:
    """The shuffled partition of a patient: by rank among the patients to audit, else by a stable hash of the id."""
    if rank is not None:
        return min(rank // per_partition, partitions - 1)
    return zlib.crc32(patient.encode("utf-8")) % partitions


def block_frame(
    block: Block, wanted: str | None = None, partitions: int = 1, per_partition: int = PATIENTS_PER_PARTITION
) -> pd.DataFrame:
    """The rows of one input block as a DataFrame (patient, resource JSON, line, file, problem, partition).

    With ``wanted`` (a file of patient ids, one a line), a resource of any other patient is not kept: that patient
    gets one row without text per block, so that patients are still counted, and the block's frame holds only
    what will be evaluated (a tenth of an export, typically) and its bad lines. A wanted patient's partition is its
    rank in that file divided by ``per_partition``: every partition gets the same number of patients. Any other
    patient's row goes to one partition by a hash of its id (each patient is counted once), a bad line by its number.
    """
    use_system_allocator()
    if wanted is None:
        return _frame([(*row, _partition(row[0], None, partitions, per_partition)) for row in read_block(block)])
    keep = _wanted(wanted)
    rows: list[tuple[str, str, int, str, str, int]] = []
    others: set[str] = set()
    for row in read_block(block):
        patient, problem = row[0], row[4]
        rank = keep.get(patient)
        if problem:
            rows.append((*row, row[2] % partitions))
        elif rank is not None:
            rows.append((*row, _partition(patient, rank, partitions, per_partition)))
        elif patient not in others:
            others.add(patient)
            rows.append((patient, "", 0, row[3], "", _partition(patient, None, partitions, per_partition)))
    frame = _frame(rows)
    del rows, others
    release_memory()
    return frame


@lru_cache(maxsize=4)
def _shared(path: str) -> SharedResources:
    return SharedResources(Path(path))


def audit_partition(
    frame: pd.DataFrame,
    shared_path: str,
    types: tuple[str, ...],
    options: AuditOptions,
    settings: Settings,
    out: str,
    partition_info: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Evaluate every patient of one shuffled partition; criteria go to Parquet, targets and problems come back."""
    use_system_allocator()
    shared = _shared(shared_path)
    part = int(partition_info["number"]) if partition_info else 0
    bad = frame[frame["problem"] != ""]
    good = frame[frame["problem"] == ""]
    # Every patient's rows come to one partition only: the counts of all partitions add up to the export's.
    results: list[tuple[str, str]] = [("patients", str(good["patient"].nunique()))]
    lines = zip(bad["file"], bad["line"], bad["problem"], strict=True)
    results.extend(("bad", json.dumps([file, int(number), reason])) for file, number, reason in lines)
    criteria: list[dict[str, Any]] = []
    ordered = good[good["text"] != ""].sort_values(["patient", "file", "line"], kind="stable")
    for patient, group in ordered.groupby("patient", sort=True):
        rows = list(zip(group["text"], group["file"], group["line"], strict=True))
        audit = audit_patient(str(patient), rows, shared, frozenset(types), options, settings)
        criteria.extend(audit.criteria)
        results.extend(("target", json.dumps(t)) for t in audit.targets)
        results.extend(("problem", json.dumps([p.file, p.line, p.reason])) for p in audit.problems)
    write_criteria(criteria, Path(out), part)
    del criteria, ordered, good, bad
    release_memory()
    return pd.DataFrame(results, columns=RESULT_COLUMNS).astype({"table": "string", "payload": "string"})


def _check_output(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".iop-cds-write-test"
        probe.write_text("ok", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        raise AuditOutputError(f"{out}: cannot write the results there ({exc.strerror or exc})") from None


def _client(workers: int, scheduler: str | None, processes: bool, local_dir: Path) -> tuple[Any, Any]:
    from distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler), None
    import dask

    # Two glibc arenas, not eight per core: memory freed in one thread's arena was not reused by the others'. Arrow
    # allocates with malloc too (see use_system_allocator), from the worker's start, so that the shuffle's buffers
    # are covered by malloc_trim.
    environ = {
        **dask.config.get("distributed.nanny.pre-spawn-environ", {}),
        "MALLOC_ARENA_MAX": 2,
        "ARROW_DEFAULT_MEMORY_POOL": "system",
    }
    config = {**WORKER_CONFIG, "distributed.nanny.pre-spawn-environ": environ}
    with dask.config.set(config):  # worker processes take the configuration as it is when they start
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=processes,
            dashboard_address=":0",  # a free port: a second audit, or any Dask on 8787, must not collide
            local_directory=str(local_dir),
            silence_logs=40,
        )
    return Client(cluster), cluster


def _peak_memory_mb() -> float:
    """Peak resident memory of this worker process (VmHWM: ru_maxrss would carry the parent's over the exec)."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)


def run_audit(
    input_dir: Path,
    out: Path,
    *,
    settings: Settings,
    policies: tuple[str, ...] = (),
    as_of: datetime | None = None,
    period: tuple[datetime | None, datetime | None] = (None, None),
    workers: int = 2,
    scheduler: str | None = None,
    processes: bool = True,
    progress: TextIO | None = None,
    partitions: int | None = None,
) -> AuditSummary:
    """Audit every IOP episode and order of the input; writes Parquet under ``out`` and returns the summary."""
    import dask
    import dask.dataframe as dd

    started = time.perf_counter()
    check_input(input_dir)
    _check_output(out)
    shutil.rmtree(out / CRITERIA_DIR, ignore_errors=True)
    work = out / WORK_DIR
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    plan: InputPlan = plan_input(input_dir, spool=work / "plain")
    shared_path = work / "shared.sqlite3"
    _, problems = read_shared(plan.shared_files, shared_path)
    _shared.cache_clear()  # a worker in this process must not keep reading an earlier run's file
    problems = [*plan.problems, *problems]
    when = as_of or _instant(plan.transaction_time) or datetime.now(UTC)
    options = AuditOptions(when, period[0], period[1], tuple(policies))
    client, cluster = _client(workers, scheduler, processes, work)
    try:
        if not plan.blocks:
            return AuditSummary(0, 0, 0, 0, problems, [], time.perf_counter() - started, workers)
        wanted_file: str | None = None
        if plan.mode == "bulk":
            # Most patients of a payer's export have no IOP episode: only those with one are kept and shuffled. Their
            # ids go to a file each worker reads once, not into every task of the graph.
            markers = [b for b in plan.blocks if is_marker_block(b)]
            wanted = sorted(set().union(*client.gather(client.map(patients_with_targets, markers))))
            wanted_file = str(work / "wanted.txt")
            Path(wanted_file).write_text("".join(f"{p}\n" for p in wanted), encoding="utf-8")
            _wanted.cache_clear()
            audited = len(wanted)
        else:
            audited = len(plan.blocks)  # one Bundle per patient
        count = partitions or max(2, -(-audited // PATIENTS_PER_PARTITION))
        with dask.config.set({"dataframe.convert-string": False}):
            frames = dd.from_map(
                block_frame,
                plan.blocks,
                wanted=wanted_file,
                partitions=count,
                per_partition=-(-audited // count),
                meta=_frame([]),
                enforce_metadata=False,
            )
            # Bad lines and the patient count ride through the shuffle with the resources, not in side branches of
            # the graph: a worker keeps the state of every task whose results are still wanted, and a side output per
            # block kept the tasks of every block (a dozen each, unfused) until the end, so their number grew with the
            # input. Each row goes to the partition its block assigned (divisions 0, 1, ..., count), not to a hash of
            # the patient: a hash fills some partitions with more patients than others, and the fullest one, which
            # sets a worker's peak, grew with the number of partitions, i.e. with the input.
            shuffled = frames.set_index("part", divisions=list(range(count + 1)), shuffle_method="p2p")
            meta = pd.DataFrame({"table": pd.Series(dtype="string"), "payload": pd.Series(dtype="string")})
            results = shuffled.map_partitions(
                audit_partition,
                str(shared_path),
                tuple(sorted(plan.types)),
                options,
                settings,
                str(out),
                meta=meta,
                enforce_metadata=False,
            )
            futures = client.compute(results)
            if progress is not None:
                from distributed import progress as show_progress

                show_progress(futures, notebook=False)
                progress.write("\n")
            evaluated = client.gather(futures)
        peaks = client.run(_peak_memory_mb)
    finally:
        # The progress bar's scheduler feed is cancelled on close; that is not an error worth a traceback.
        logging.getLogger("distributed.scheduler").setLevel(logging.CRITICAL)
        client.close()
        if cluster is not None:
            cluster.close()
        shutil.rmtree(work, ignore_errors=True)
    targets: list[dict[str, Any]] = []
    patients = 0
    for table, payload in evaluated.itertuples(index=False):
        if table == "patients":
            patients += int(payload)
        elif table == "target":
            targets.append(json.loads(payload))
        elif table in ("problem", "bad"):
            file, line, reason = json.loads(payload)
            problems.append(Problem(file, line, reason))
    targets.sort(key=lambda t: (t["patient"], t["episode"]))
    problems.sort(key=lambda p: (p.file, p.line or 0, p.reason))
    write_targets(targets, out)
    write_problems(problems, out)
    rows = read_criteria(out, ["patient", "episode", "kind", "policy", "phase", "criterion", "status", "discharge"])
    episodes = sum(1 for t in targets if t["kind"] == "episode")
    meta = {
        "input": str(input_dir),
        "as_of": when.isoformat(),
        "period": [d.isoformat() if d else None for d in period],
        "patients": int(patients),
        "episodes": episodes,
        "orders": len(targets) - episodes,
        "criteria_rows": rows.num_rows,
    }
    write_report(out, rows.to_pylist(), targets, problems, meta)
    return AuditSummary(
        patients_with_targets=len({t["patient"] for t in targets}),
        episodes=episodes,
        orders=len(targets) - episodes,
        criteria_rows=rows.num_rows,
        problems=problems,
        targets=targets,
        seconds=time.perf_counter() - started,
        workers=len(peaks),
        peak_memory_mb={str(k): v for k, v in peaks.items()},
        input_patients=int(patients),
    )


def _instant(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
