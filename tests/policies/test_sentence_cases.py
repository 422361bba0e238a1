"""The shared reviewer-case runner: a failing row names its case and shows the service's reason."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sentence_cases import Review, review_test

NOT_INPATIENT = Review(
    "bh803.excluded.1-not-inpatient",
    "The following services are excluded from the scope of intensive outpatient services … Services to hospital "
    "inpatients",
    "P8",
    "encounter-discharge",
    "2025-03-07T12:30:00-07:00",
    "bh803",
    text="optum-medicare-bh803-iop.txt",
)
SERVICE_SAYS = "no inpatient stay in progress"  # P8 has none: the service says met


def failure(review: Review, status: str, phrase: str) -> str:
    """The assertion message of the runner on P8 unchanged, expecting ``status`` and ``phrase``."""
    run = review_test(review, [])
    with pytest.raises(AssertionError) as failed:
        run(review.case("P8 as recorded", (), status), phrase)
    return str(failed.value)


def test_a_wrong_status_names_the_case_the_quote_and_the_reason() -> None:
    message = failure(NOT_INPATIENT, "not-met", "anything")
    assert "bh803.excluded.1-not-inpatient:not-met:P8 as recorded" in message
    assert "policy says 'not-met'" in message and "service says 'met'" in message
    assert "Services to hospital inpatients" in message and SERVICE_SAYS in message


def test_a_missing_phrase_names_the_case_and_shows_the_reason() -> None:
    message = failure(NOT_INPATIENT, "met", "overlaps Encounter/P8-ip")
    assert "P8 as recorded" in message and SERVICE_SAYS in message and "overlaps Encounter/P8-ip" in message


def test_a_quote_not_in_the_policy_text_names_the_case() -> None:
    misquoted = replace(NOT_INPATIENT, quote="Services to hospital outpatients")
    message = failure(misquoted, "met", SERVICE_SAYS)
    assert "P8 as recorded" in message and "not found in optum-medicare-bh803-iop.txt" in message


def test_rows_run_through_the_runner_pass() -> None:
    run = review_test(NOT_INPATIENT, [])
    run(NOT_INPATIENT.case("P8 as recorded", (), "met"), SERVICE_SAYS)
