"""Program-level attestations: loaded from one YAML file, valid until it expires, used only for program criteria."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from cds_service.engine.program_attestations import DeploymentAttestationError, load_program_attestations

GOOD = """
program: Example IOP
attested-by: Program Director
date: 2025-01-02
expires: 2025-12-31
criteria:
  x.program.1: true
  x.program.2: false
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "program.yaml"
    path.write_text(text)
    return str(path)


def test_answers_hold_until_the_file_expires(tmp_path: Path) -> None:
    program = load_program_attestations(write(tmp_path, GOOD), {"x.program.1", "x.program.2"})
    assert program is not None
    answers = program.valid_at(datetime(2025, 6, 1, tzinfo=UTC))
    assert answers["x.program.1"].value is True and answers["x.program.2"].value is False
    assert "Example IOP" in answers["x.program.1"].source
    assert program.valid_at(datetime(2026, 1, 1, tzinfo=UTC)) == {}


def test_no_file_is_a_warning_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    assert load_program_attestations("", set()) is None
    assert any(
        "program-level criteria stay unknown" in r.getMessage() or "no-attestations" in r.getMessage()
        for r in caplog.records
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("x.program.2", "x.program.9"), "x.program.9: unknown criterion id"),
        (GOOD.replace("x.program.1: true", "x.program.1: maybe"), "answer must be true or false"),
        (GOOD.replace("expires: 2025-12-31", "expires: soon"), "expires must be a date"),
        ("criteria: [a, b]", "expected a mapping"),
        ("program: [unclosed", "program.yaml"),
    ],
)
def test_a_malformed_file_names_its_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DeploymentAttestationError, match=message.replace(".", r"\.")):
        load_program_attestations(write(tmp_path, text), {"x.program.1", "x.program.2"})
