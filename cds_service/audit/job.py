"""The Dask job, two computations: read blocks -> P2P shuffle by patient (spills to disk) -> one Parquet file per
partition; then evaluate each partition file -> criteria Parquet and a small results file per partition.

Why a dask DataFrame of (patient, resource JSON) and not a bag ``groupby``: the bag's disk shuffle works only with
the single-machine scheduler, its task shuffle keeps everything in worker memory; the DataFrame's peer-to-peer
shuffle of ``dask.distributed`` writes its buckets to each worker's disk, so a worker holds one output partition
(ten patients) at a time however large the export is, on a LocalCluster or on a remote cluster alike.
Workers write their criteria rows and results to the work folder themselves; the client releases the shuffle's
futures before the evaluation starts and each evaluation task as it completes, so no worker keeps a task state, a
result or a future per block or partition while the run goes on (what else bounds a worker's memory: WORKER_CONFIG,
use_system_allocator, release_memory, PATIENTS_PER_PARTITION).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import logging
import shutil
import sys
import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from cds_service.audit.evaluate import AuditOptions, audit_patient
from cds_service.audit.parquet import (
    CRITERIA_DIR,
    PROBLEMS_FILE,
    TARGETS_FILE,
    read_criteria,
    write_criteria,
    write_problems,
    write_targets,
)
from cds_service.audit.report import REPORT_FILE, SUMMARY_FILE, write_report
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
    # The state machine's developer logs (transitions and stimuli, 1,000 entries each by default) and the system
    # monitor's history (7,200 samples, an hour) fill up over a long run: bounded, but larger for a larger input.
    "distributed.admin.low-level-log-length": 100,
    "distributed.admin.system-monitor.log-length": 120,
}
"""Settings of the LocalCluster's workers that bound their memory (a cluster given by address keeps its own)."""
COLUMNS = ["patient", "text", "line", "file", "problem", "part"]
WORK_DIR = "_work"
"""The run's work folder under ``--out``: gzip copies, shared resources, shuffled partitions, results; removed after."""
SHUFFLED_DIR = "shuffled"
RESULTS_DIR = "results"
OUTPUT_FILES = (TARGETS_FILE, PROBLEMS_FILE, REPORT_FILE, SUMMARY_FILE)
"""The files a run writes in ``--out`` besides ``criteria/``: an earlier run's are removed when a run starts."""


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
    stages: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    """Per stage (shuffle, evaluate), per worker: its state when the stage ended (see ``_worker_state``)."""


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


def write_shuffled(frame: pd.DataFrame, folder: str, partition_info: dict[str, Any] | None = None) -> pd.DataFrame:
    """Write one shuffled partition to ``folder/part-NNNNN.parquet``; returns its row count (one tiny row).

    The shuffle's computation ends here: once every partition is on disk its futures are released, and with them
    every task state of the shuffle (its block reads, transfers and barrier), before any patient is evaluated.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    use_system_allocator()
    part = int(partition_info["number"]) if partition_info else 0
    table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    pq.write_table(table, str(Path(folder) / f"part-{part:05d}.parquet"))
    rows = len(frame)
    del table
    release_memory()
    return pd.DataFrame({"rows": [rows]}, dtype="int64")


def audit_partition(
    path: str,
    shared_path: str,
    types: tuple[str, ...],
    options: AuditOptions,
    settings: Settings,
    work: str,
) -> int:
    """Evaluate every patient of one shuffled partition file; criteria, targets and problems go to files in ``work``.

    Criteria go to ``work/criteria`` (moved to ``--out`` once the run has finished), the partition's count of
    patients, targets and bad lines to ``work/results/part-NNNNN.json``: nothing but the number of criterion rows
    returns, and the client releases each task as it completes, so a worker holds nothing per partition.
    """
    import pyarrow.parquet as pq

    use_system_allocator()
    shared = _shared(shared_path)
    name = Path(path).stem
    part = int(name.rsplit("-", 1)[1])
    frame = pq.read_table(path).to_pandas()
    bad = frame[frame["problem"] != ""]
    good = frame[frame["problem"] == ""]
    # Every patient's rows come to one partition only: the counts of all partitions add up to the export's.
    results: dict[str, Any] = {"patients": int(good["patient"].nunique()), "targets": [], "problems": []}
    lines = zip(bad["file"], bad["line"], bad["problem"], strict=True)
    results["problems"].extend([file, int(number), reason] for file, number, reason in lines)
    criteria: list[dict[str, Any]] = []
    ordered = good[good["text"] != ""].sort_values(["patient", "file", "line"], kind="stable")
    for patient, group in ordered.groupby("patient", sort=True):
        rows = list(zip(group["text"], group["file"], group["line"], strict=True))
        audit = audit_patient(str(patient), rows, shared, frozenset(types), options, settings)
        criteria.extend(audit.criteria)
        results["targets"].extend(audit.targets)
        results["problems"].extend([p.file, p.line, p.reason] for p in audit.problems)
    written = write_criteria(criteria, Path(work), part)
    result_file = Path(work) / RESULTS_DIR / f"{name}.json"
    temporary = result_file.with_suffix(".tmp")
    temporary.write_text(json.dumps(results), encoding="utf-8")
    temporary.replace(result_file)  # a result file is whole or absent
    Path(path).unlink()  # the shuffled partition is no longer needed: the work folder shrinks as the stage runs
    del criteria, ordered, good, bad, frame, results
    release_memory()
    return written


def _check_output(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".iop-cds-write-test"
        probe.write_text("ok", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        raise AuditOutputError(f"{out}: cannot write the results there ({exc.strerror or exc})") from None


def _settle(client: Any, timeout: float = 10.0) -> None:
    """Wait until the workers have forgotten the finished stage's tasks, then hand its freed memory back."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(client.run(_task_count).values()):
        time.sleep(0.1)
    client.run(_collect)


def _task_count(dask_worker: Any = None) -> int:
    return len(dask_worker.state.tasks) if dask_worker is not None else 0


def _collect() -> None:
    gc.collect()
    release_memory()


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


def _worker_state(dask_worker: Any = None) -> dict[str, float]:
    """What a worker holds now: peak and current resident memory (MB), task states, log and stimulus-log entries."""
    state: dict[str, float] = {"peak_mb": _peak_memory_mb()}
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmRSS:"):
                state["rss_mb"] = round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    if dask_worker is not None:
        state["tasks"] = len(dask_worker.state.tasks)
        state["log"] = len(dask_worker.state.log)
        state["stimulus_log"] = len(dask_worker.state.stimulus_log)
        state["transition_counter"] = dask_worker.state.transition_counter
    return state


class _StageBar:
    """Dask's console progress bar over a stage's futures, drawn from a thread while the caller releases them.

    ``distributed``'s ``progress`` blocks and keeps the futures it is given until the stage ends; this bar keeps only
    their keys (the scheduler's ``Progress`` plugin counts a key once it is computed, and a key released after that
    does not stop it), so each future can be released as soon as it completes.
    """

    def __init__(self, futures: list[Any], title: str, stream: TextIO) -> None:
        from distributed.diagnostics.progressbar import TextProgressBar

        ready = threading.Event()

        class Bar(TextProgressBar):  # type: ignore[misc]
            def _draw_bar(self, **kwargs: Any) -> None:
                ready.set()
                super()._draw_bar(**kwargs)

            def _draw_stop(self, **kwargs: Any) -> None:
                ready.set()
                super()._draw_stop(**kwargs)

        stream.write(f"{title}\n")
        stream.flush()
        self._bar = Bar(futures, start=False, complete=True)
        self._thread = threading.Thread(target=self._listen, name=f"progress {title}", daemon=True)
        self._thread.start()
        # The scheduler starts counting once it has found every key: none may be released before.
        ready.wait(timeout=30)

    def _listen(self) -> None:
        try:
            self._bar._loop_runner.run_sync(self._bar.listen)
        except Exception:  # noqa: BLE001 - the bar is only a display: a lost feed must not fail the audit
            logging.getLogger(__name__).debug("progress bar stopped", exc_info=True)

    def close(self, stream: TextIO) -> None:
        """Wait for the bar's last update (it stops when every key is computed) and end its line."""
        self._thread.join(timeout=5)
        with contextlib.suppress(Exception):
            self._bar._loop_runner.stop()
        stream.write("\n")
        stream.flush()


def _shuffle_to_files(
    client: Any,
    blocks: list[Block],
    wanted_file: str | None,
    count: int,
    per_partition: int,
    folder: Path,
    progress: TextIO | None,
) -> None:
    """Stage 1: read the blocks, shuffle them by partition with Dask's p2p shuffle, write each partition to a file."""
    import dask
    import dask.dataframe as dd
    from distributed import wait

    with dask.config.set({"dataframe.convert-string": False}):
        frames = dd.from_map(
            block_frame,
            blocks,
            wanted=wanted_file,
            partitions=count,
            per_partition=per_partition,
            meta=_frame([]),
            enforce_metadata=False,
        )
        # Bad lines and the patient count ride through the shuffle with the resources, not in side branches of the
        # graph. Each row goes to the partition its block assigned (divisions 0, 1, ..., count), not to a hash of the
        # patient: a hash fills some partitions with more patients than others, and the fullest one, which sets a
        # worker's peak, grew with the number of partitions, i.e. with the input.
        shuffled = frames.set_index("part", divisions=list(range(count + 1)), shuffle_method="p2p")
        written = shuffled.map_partitions(
            write_shuffled, str(folder), meta=pd.DataFrame({"rows": pd.Series(dtype="int64")}), enforce_metadata=False
        )
        futures = client.compute(written.to_delayed())
    bar = _StageBar(futures, "1/2 reading and shuffling", progress) if progress is not None else None
    try:
        wait(futures)
        client.gather(futures)  # raises the first error of the stage
    finally:
        if bar is not None:
            bar.close(progress)
    del futures  # releases the stage: every worker forgets its tasks and the shuffle's run


def _evaluate_files(
    client: Any,
    files: list[str],
    task_args: tuple[Any, ...],
    progress: TextIO | None,
) -> None:
    """Stage 2: evaluate each partition file on a worker; each task is released as soon as it completes."""
    from distributed import as_completed

    futures = client.map(audit_partition, files, *[[arg] * len(files) for arg in task_args], pure=False)
    bar = _StageBar(futures, "2/2 evaluating", progress) if progress is not None else None
    completed = as_completed(futures)
    del futures  # only the iterator holds them now, and it lets go of each one it yields
    try:
        for future in completed:
            future.result()  # raises the task's error: the run stops, and nothing reaches --out
            future.release()
    finally:
        if bar is not None:
            bar.close(progress)


def _clear_output(out: Path) -> None:
    """Remove an earlier run's results from ``out`` (a new run's appear only once it has finished)."""
    shutil.rmtree(out / CRITERIA_DIR, ignore_errors=True)
    for name in OUTPUT_FILES:
        (out / name).unlink(missing_ok=True)


def _read_results(folder: Path) -> tuple[int, list[dict[str, Any]], list[Problem]]:
    """The patient count, targets and problems the workers wrote, one file per partition."""
    patients = 0
    targets: list[dict[str, Any]] = []
    problems: list[Problem] = []
    for path in sorted(folder.glob("part-*.json")):
        results = json.loads(path.read_text(encoding="utf-8"))
        patients += int(results["patients"])
        targets.extend(results["targets"])
        problems.extend(Problem(file, line, reason) for file, line, reason in results["problems"])
    return patients, targets, problems


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
    """Audit every IOP episode and order of the input; writes Parquet under ``out`` and returns the summary.

    Two Dask computations: the blocks are shuffled by patient into partition files, then each file is evaluated.
    Everything goes to the work folder under ``out`` first; the results move to ``out`` only when both have finished.
    """
    started = time.perf_counter()
    check_input(input_dir)
    _check_output(out)
    _clear_output(out)
    work = out / WORK_DIR
    shutil.rmtree(work, ignore_errors=True)
    for folder in (work / SHUFFLED_DIR, work / RESULTS_DIR):
        folder.mkdir(parents=True)
    plan: InputPlan = plan_input(input_dir, spool=work / "plain")
    shared_path = work / "shared.sqlite3"
    _, problems = read_shared(plan.shared_files, shared_path)
    _shared.cache_clear()  # a worker in this process must not keep reading an earlier run's file
    problems = [*plan.problems, *problems]
    when = as_of or _instant(plan.transaction_time) or datetime.now(UTC)
    options = AuditOptions(when, period[0], period[1], tuple(policies))
    stages: dict[str, dict[str, dict[str, float]]] = {}
    patients = 0
    targets: list[dict[str, Any]] = []
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
        _shuffle_to_files(client, plan.blocks, wanted_file, count, -(-audited // count), work / SHUFFLED_DIR, progress)
        _settle(client)
        stages["shuffle"] = {str(k): v for k, v in client.run(_worker_state).items()}
        files = sorted(str(p) for p in (work / SHUFFLED_DIR).glob("part-*.parquet"))
        task_args = (str(shared_path), tuple(sorted(plan.types)), options, settings, str(work))
        _evaluate_files(client, files, task_args, progress)
        stages["evaluate"] = {str(k): v for k, v in client.run(_worker_state).items()}
        patients, targets, found = _read_results(work / RESULTS_DIR)
        problems.extend(found)
        if (work / CRITERIA_DIR).exists():
            (work / CRITERIA_DIR).replace(out / CRITERIA_DIR)
    finally:
        # The progress bar's scheduler feed is cancelled on close; that is not an error worth a traceback.
        logging.getLogger("distributed.scheduler").setLevel(logging.CRITICAL)
        client.close()
        if cluster is not None:
            cluster.close()
        shutil.rmtree(work, ignore_errors=True)
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
    peaks = {worker: state["peak_mb"] for worker, state in stages["evaluate"].items()}
    return AuditSummary(
        patients_with_targets=len({t["patient"] for t in targets}),
        episodes=episodes,
        orders=len(targets) - episodes,
        criteria_rows=rows.num_rows,
        problems=problems,
        targets=targets,
        seconds=time.perf_counter() - started,
        workers=len(peaks),
        peak_memory_mb=peaks,
        input_patients=int(patients),
        stages=stages,
    )


def _instant(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
