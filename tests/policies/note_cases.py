"""Notes as EHRs record them: `date` is when the reference was made (often the signing, days later), and
`context.period` is when the service it documents took place. Builders for the policies' note tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sentence_cases import Bundle, SentenceCase, add, by_id, drop

Change = Callable[[Bundle], None]
LOINC = "http://loinc.org"


def documented(note_id: str, *, date: str | None, start: str | None = None, end: str | None = None) -> Change:
    """The note's `date` (None: absent) and the period of the service it documents (None: no period)."""

    def apply(bundle: Bundle) -> None:
        note = by_id(bundle, note_id)
        if date is None:
            note.pop("date", None)
        else:
            note["date"] = date
        if start or end:
            period = {k: v for k, v in (("start", start), ("end", end)) if v}
            note.setdefault("context", {})["period"] = period

    return apply


def note(note_id: str, patient: str, code: str, display: str, **fields: Any) -> Change:
    """A current note of the given LOINC type (``fields`` as in `documented`: date, start, end; plus author)."""
    author = fields.pop("author", None)
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "id": note_id,
        "status": "current",
        "subject": {"reference": f"Patient/{patient}"},
        "type": {"coding": [{"system": LOINC, "code": code, "display": display}]},
        "content": [{"attachment": {"contentType": "text/plain", "title": display}}],
    }
    if author:
        resource["author"] = [{"reference": author}]

    def apply(bundle: Bundle) -> None:
        add(bundle, resource)
        documented(note_id, **fields)(bundle)

    return apply


def without(*ids: str) -> Change:
    """No such resource in the record."""
    return lambda bundle: drop(bundle, lambda r: r.get("id") in ids)


def reviewed_at(case: SentenceCase, at: str) -> SentenceCase:
    """The same case judged in a retrospective review at ``at`` (the hook as given, a later evaluation time)."""
    return replace(case, at=at)
