"""Reading the input: a Bulk Data export (NDJSON per type, gzip or not) or a folder of patient Bundles, in blocks.

Nothing here is fatal for bad data: a line that is not JSON, a resource with no patient, a gzip that ends early
become ``Problem`` rows (file, line, reason); only an input that cannot be read at all raises ``AuditInputError``.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cds_service.audit.shared_store import SharedResources, write_shared
from cds_service.record.orders import iop_code

BLOCK_BYTES = 8 * 1024 * 1024
"""Bytes of NDJSON per block at most: a task's memory is bounded by the block, so it must not follow the file size.
(A cap by lines did not bound it: 20,000 lines are 17 MB of Condition and 55 MB of DocumentReference.)"""
BLOCK_LINES = 20_000
"""Lines per block at most (many tiny lines would otherwise make blocks of many small rows)."""

# Types that belong to no patient: a Bulk export writes them to files of their own, and every patient may cite them.
SHARED_TYPES = frozenset({"Practitioner", "PractitionerRole", "Organization", "Location", "Medication"})


class AuditInputError(ValueError):
    """The input folder cannot be read at all (missing, not a folder, nothing to read, unreadable manifest)."""


@dataclass(frozen=True)
class Problem:
    """One piece of bad input: where it is and why it was set aside."""

    file: str
    line: int | None
    reason: str


@dataclass(frozen=True)
class Block:
    """A run of lines of one NDJSON file (byte offset known for plain files), or one Bundle file."""

    path: str
    kind: str  # "ndjson" or "bundle"
    first_line: int = 1
    lines: int = 0
    offset: int | None = None
    name: str = ""  # the input file it comes from, when ``path`` is a plain copy of a gzip file

    @property
    def file(self) -> str:
        """The name of the input file, as problems report it."""
        return self.name or Path(self.path).name


@dataclass
class InputPlan:
    """What to read: the blocks of patient data, the shared resources, the problems found while planning."""

    mode: str  # "bulk" or "bundles"
    blocks: list[Block]
    shared_files: list[Path]
    problems: list[Problem]
    transaction_time: str | None = None
    types: frozenset[str] = frozenset()


def _ndjson_files(folder: Path) -> tuple[list[Path], str | None]:
    """The export's NDJSON files: the manifest's ``output`` when there is one, else every *.ndjson(.gz)."""
    manifest = folder / "manifest.json"
    if manifest.exists():
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
            urls = [str(item["url"]) for item in data.get("output", [])]
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise AuditInputError(f"{manifest}: not a readable Bulk Data manifest ({exc})") from None
        files = [folder / Path(url.split("?", 1)[0]).name for url in urls]
        return files, data.get("transactionTime")
    files = sorted([*folder.glob("*.ndjson"), *folder.glob("*.ndjson.gz")])
    return files, None


def _type_of_file(path: Path) -> str:
    return path.name.split(".", 1)[0]


def _open(path: Path) -> Any:
    return gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb")


def _split(path: Path, copy: Path | None = None) -> tuple[list[tuple[int, int, int]], int, Problem | None]:
    """Blocks of one NDJSON file as (first line, lines, byte offset), each of at most BLOCK_BYTES and BLOCK_LINES;
    the line count; the problem that cut the file short, if any. With ``copy``, the lines read (a gzip file's, whole
    lines only) are also written there uncompressed, and the offsets are those of the copy."""
    blocks: list[tuple[int, int, int]] = []
    count = first = start = position = 0
    problem = None
    sink = copy.open("wb") if copy is not None else None
    try:
        with _open(path) as handle:
            for raw in handle:
                if count > first and (count - first >= BLOCK_LINES or position - start + len(raw) > BLOCK_BYTES):
                    blocks.append((first + 1, count - first, start))
                    first, start = count, position
                count += 1
                position += len(raw)
                if sink is not None:
                    sink.write(raw)
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
        reason = "gzip ends early" if isinstance(exc, EOFError) else f"unreadable: {exc}"
        problem = Problem(path.name, count + 1, reason)
    finally:
        if sink is not None:
            sink.close()
    if count > first:
        blocks.append((first + 1, count - first, start))
    return blocks, count, problem


def check_input(folder: Path) -> None:
    """Raise AuditInputError when ``folder`` is not a folder that exists."""
    if not folder.exists():
        raise AuditInputError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise AuditInputError(f"{folder}: not a folder (give a Bulk Data export or a folder of patient Bundles)")


def plan_input(folder: Path, spool: Path | None = None) -> InputPlan:
    """Blocks to read from a Bulk export or a Bundles folder; raises AuditInputError when there is nothing to read.

    With ``spool`` (a folder), each gzip file is decompressed there once while it is planned, so that every block
    reads its own bytes; without it a block of a gzip file reads the file from its start up to its lines.
    """
    check_input(folder)
    try:
        files, transaction_time = _ndjson_files(folder)
        bundles = sorted(folder.glob("*.json")) if not files else []
    except PermissionError as exc:
        raise AuditInputError(f"{folder}: cannot be read ({exc.strerror})") from None
    problems: list[Problem] = []
    if bundles:
        bundles = [p for p in bundles if p.name not in ("manifest.json", "truth.json")]
        return InputPlan("bundles", [Block(str(p), "bundle") for p in bundles], [], problems, None, frozenset())
    if not files:
        raise AuditInputError(f"{folder}: no .ndjson, .ndjson.gz or Bundle .json files")
    blocks: list[Block] = []
    shared: list[Path] = []
    types: set[str] = set()
    for path in files:
        if not path.exists():
            problems.append(Problem(path.name, None, "listed in the manifest but missing"))
            continue
        rtype = _type_of_file(path)
        types.add(rtype)
        if rtype in SHARED_TYPES:
            shared.append(path)
            continue
        gz = path.name.endswith(".gz")
        copy = None
        if gz and spool is not None:
            spool.mkdir(parents=True, exist_ok=True)
            copy = spool / path.name.removesuffix(".gz")
        spans, _, problem = _split(path, copy)
        if problem:
            problems.append(problem)
        for first, lines, offset in spans:
            if copy is not None:
                blocks.append(Block(str(copy), "ndjson", first, lines, offset, path.name))
            else:
                blocks.append(Block(str(path), "ndjson", first, lines, None if gz else offset))
    return InputPlan("bulk", blocks, shared, problems, transaction_time, frozenset(types))


def patient_of(resource: dict[str, Any]) -> str | None:
    """The id of the patient a resource belongs to (its compartment reference), or None."""
    if resource.get("resourceType") == "Patient":
        rid = resource.get("id")
        return rid if isinstance(rid, str) else None
    for key in ("subject", "patient", "beneficiary"):
        ref = resource.get(key)
        if isinstance(ref, dict) and isinstance(ref.get("reference"), str) and ref["reference"].startswith("Patient/"):
            return ref["reference"].removeprefix("Patient/")
    for participant in resource.get("participant") or []:
        actor = participant.get("actor") if isinstance(participant, dict) else None
        ref = actor.get("reference") if isinstance(actor, dict) else None
        if isinstance(ref, str) and ref.startswith("Patient/"):
            return ref.removeprefix("Patient/")
    return None


def _lines(block: Block) -> Iterator[tuple[int, bytes]]:
    """The block's lines; reading stops at its last line, so a cut gzip is never read past what planning counted."""
    path = Path(block.path)
    end = block.first_line + block.lines
    with _open(path) as handle:
        number = 1
        if block.offset is not None:
            handle.seek(block.offset)
            number = block.first_line
        while number < end:
            raw = handle.readline()
            if not raw:
                break
            if number >= block.first_line:
                yield number, raw
            number += 1


def read_block(block: Block) -> Iterator[tuple[str, str, int, str, str]]:
    """(patient, text, line, file, problem) per resource of a block; problem is "" for good rows."""
    name = block.file
    if block.kind == "bundle":
        yield from _read_bundle(Path(block.path))
        return
    for number, raw in _lines(block):
        if not raw.strip():
            continue
        try:
            resource = json.loads(raw)
        except ValueError:
            yield "", "", number, name, "malformed JSON"
            continue
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            yield "", "", number, name, "not a FHIR resource"
            continue
        patient = patient_of(resource)
        if patient is None:
            yield "", "", number, name, f"no patient reference ({resource['resourceType']}/{resource.get('id', '?')})"
            continue
        yield patient, raw.decode("utf-8").strip(), number, name, ""


def _read_bundle(path: Path) -> Iterator[tuple[str, str, int, str, str]]:
    try:
        bundle = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        yield "", "", 1, path.name, f"not a readable JSON Bundle ({type(exc).__name__})"
        return
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        yield "", "", 1, path.name, "not a FHIR Bundle"
        return
    entries = bundle.get("entry") if isinstance(bundle.get("entry"), list) else []
    resources = [(i, e.get("resource")) for i, e in enumerate(entries, start=1) if isinstance(e, dict)]
    patients = [r["id"] for _, r in resources if isinstance(r, dict) and r.get("resourceType") == "Patient"]
    if not patients:
        yield "", "", 1, path.name, "no Patient in the Bundle"
        return
    for index, resource in resources:
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            yield "", "", index, path.name, "entry without a resource"
            continue
        owner = patient_of(resource)
        # Everything in a patient's Bundle is that patient's, practitioners and organisations included.
        yield owner or patients[0], json.dumps(resource, separators=(",", ":")), index, path.name, ""


MARKER_TYPES = ("Encounter", "ServiceRequest")
"""The files that tell which patients have something to evaluate (a program's sessions, an IOP order)."""


def marks_a_target(resource: dict[str, Any]) -> bool:
    """A session Encounter that is part of a program, or an IOP ServiceRequest: its patient must be evaluated."""
    if resource.get("resourceType") == "Encounter":
        return isinstance(resource.get("partOf"), dict)
    return resource.get("resourceType") == "ServiceRequest" and iop_code(resource) is not None


def is_marker_block(block: Block) -> bool:
    """A block of an Encounter or ServiceRequest file (a Bulk export names its files by type)."""
    return block.kind == "ndjson" and _type_of_file(Path(block.file)) in MARKER_TYPES


def patients_with_targets(block: Block) -> set[str]:
    """Patients of a block's resources that mark a target (unreadable lines are counted by the main pass)."""
    found: set[str] = set()
    for patient, text, _, _, problem in read_block(block):
        if not problem and marks_a_target(json.loads(text)):
            found.add(patient)
    return found


def read_shared(files: list[Path], into: Path) -> tuple[SharedResources, list[Problem]]:
    """Practitioners, organisations, locations stored by ``Type/id`` in the SQLite file ``into`` (streamed, never
    held whole), and the problems met reading them."""
    problems: list[Problem] = []

    def resources() -> Iterator[tuple[str, str]]:
        for path in files:
            _, count, problem = _split(path)
            if problem:
                problems.append(problem)
            gz = 0 if not path.name.endswith(".gz") else None
            for number, raw in _lines(Block(str(path), "ndjson", 1, count, gz)):
                if not raw.strip():
                    continue
                try:
                    resource = json.loads(raw)
                    yield f"{resource['resourceType']}/{resource['id']}", raw.strip()
                except (ValueError, KeyError, TypeError):
                    problems.append(Problem(path.name, number, "malformed JSON"))

    write_shared(into, resources())
    return SharedResources(into), problems
