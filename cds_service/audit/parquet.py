"""Parquet output: criteria (one row per target x policy x criterion, partitioned by policy), targets, problems."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from cds_service.audit.source import Problem

CRITERIA_SCHEMA = pa.schema(
    [
        ("patient", pa.string()),
        ("episode", pa.string()),
        ("kind", pa.string()),
        ("policy", pa.string()),
        ("phase", pa.string()),
        ("criterion", pa.string()),
        ("status", pa.string()),
        ("reason", pa.string()),
        ("evidence", pa.list_(pa.string())),
        ("due", pa.string()),
        ("evaluated_at", pa.string()),
        ("discharge", pa.string()),
    ]
)
TARGETS_SCHEMA = pa.schema(
    [
        ("patient", pa.string()),
        ("episode", pa.string()),
        ("kind", pa.string()),
        ("hook", pa.string()),
        ("evaluated_at", pa.string()),
        ("discharge", pa.string()),
        ("open", pa.bool_()),
        ("aftercare_days", pa.int64()),
        ("policies", pa.string()),
    ]
)
PROBLEMS_SCHEMA = pa.schema([("file", pa.string()), ("line", pa.int64()), ("reason", pa.string())])

CRITERIA_DIR = "criteria"
TARGETS_FILE = "targets.parquet"
PROBLEMS_FILE = "bad_input.parquet"


def write_criteria(rows: list[dict[str, Any]], out: Path, part: int) -> int:
    """Append one partition's criterion rows under ``criteria/policy=KEY/``; returns the number of rows."""
    if not rows:
        return 0
    table = pa.Table.from_pylist(rows, schema=CRITERIA_SCHEMA)
    pq.write_to_dataset(
        table,
        root_path=str(out / CRITERIA_DIR),
        partition_cols=["policy"],
        basename_template=f"part-{part:05d}-{{i}}.parquet",
        existing_data_behavior="overwrite_or_ignore",
    )
    return len(rows)


def read_criteria(out: Path, columns: list[str] | None = None) -> pa.Table:
    """The criteria dataset (policy restored from the folder names), sorted for stable comparisons."""
    folder = out / CRITERIA_DIR
    if not folder.exists():
        return CRITERIA_SCHEMA.empty_table().select(columns or CRITERIA_SCHEMA.names)
    table = pq.read_table(str(folder), columns=columns, partitioning="hive")
    if "policy" in table.column_names:
        table = table.set_column(table.column_names.index("policy"), "policy", table.column("policy").cast(pa.string()))
    keys = [(k, "ascending") for k in ("patient", "episode", "policy", "phase", "criterion") if k in table.column_names]
    return table.sort_by(keys)


def write_targets(rows: list[dict[str, Any]], out: Path) -> None:
    """One row per evaluated episode or order."""
    pq.write_table(pa.Table.from_pylist(rows, schema=TARGETS_SCHEMA), str(out / TARGETS_FILE))


def write_problems(problems: list[Problem], out: Path) -> None:
    """Every piece of bad input: file, line (null when it is the whole file) and reason."""
    rows = [{"file": p.file, "line": p.line, "reason": p.reason} for p in problems]
    pq.write_table(pa.Table.from_pylist(rows, schema=PROBLEMS_SCHEMA), str(out / PROBLEMS_FILE))
