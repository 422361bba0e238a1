"""Optum LOCG 2021 (IOP): who evaluated, saw or follows up the member. A PractitionerRole counts as the practitioner
it names; a performer the record does not resolve leaves the sentence unknown; a performer identified as another
clinician than the sentence names is evidence against. Cases on golden P4 at its discharge (2025-02-28), admitted
directly from an inpatient stay."""

from __future__ import annotations

from typing import Any

from sentence_cases import Bundle, by_id, sentence_test
from test_optum_locg_sentences import PSYCHIATRIC_NP, PSYCHIATRIST_ON_19, SEVEN_A, SIX_A, d, with_

TEXT = "optum-locg-2021-iop.txt"
EVAL = "process.6a-psychiatrist-eval-3d"
WEEKLY = "continued.7a-psychiatrist-weekly"
FOLLOW_UP = "discharge.10b3-first-appts-datetime"
V2_0360 = "http://terminology.hl7.org/CodeSystem/v2-0360"
TEN_B3 = (
    "The date and time of the first appointment for treatment as … well as the first follow-up psychiatric assessment"
)


def role(rid: str, practitioner: str | None, **extra: Any) -> dict[str, Any]:
    """A PractitionerRole naming this practitioner (or none), with ``extra`` fields."""
    named = {"practitioner": {"reference": practitioner}} if practitioner else {}
    return {"resourceType": "PractitionerRole", "id": rid, "active": True} | named | extra


def performed_by(rid: str, actor: dict[str, Any], *resources: dict[str, Any]) -> Any:
    """Procedure ``rid`` of P4 performed by ``actor`` (a reference or display-only object); adds ``resources``."""

    def change(bundle: Bundle) -> None:
        # a copy: a resource another change added may be a shared module-level dict
        for entry in bundle["entry"]:
            if entry["resource"].get("id") == rid:
                entry["resource"] = {**entry["resource"], "performer": [{"actor": actor}]}
        with_(*resources)(bundle)

    return change


PSY_ROLE = role("P4-psy-role", "Practitioner/P4-psy")
UNRESOLVED_ACTORS: list[tuple[str, dict[str, Any], tuple[dict[str, Any], ...]]] = [
    ("role not in the record", {"reference": "PractitionerRole/P4-gone"}, ()),
    ("practitioner not in the record", {"reference": "Practitioner/P4-gone"}, ()),
    ("role naming no practitioner", {"reference": "PractitionerRole/P4-r0"}, (role("P4-r0", None),)),
]
NURSE_PRACTITIONER_ROLE = (
    {"reference": "PractitionerRole/pmhnp-role"},
    (PSYCHIATRIC_NP, role("pmhnp-role", "Practitioner/pmhnp")),
)

# #6.a "A psychiatrist completes a comprehensive evaluation of the member when the member has been directly admitted
# to the intensive outpatient program from an inpatient setting." (P4's evaluation on 02-07, day 1.)
test_psychiatrist_completes_the_evaluation = sentence_test(
    [
        # Dr Abara named through her PractitionerRole (no specialty on the role): a psychiatrist (was not-met).
        (d(EVAL, "met", SIX_A, performed_by("P4-eval", {"reference": "PractitionerRole/P4-psy-role"}, PSY_ROLE),
           name="by-the-psychiatrist's-role"), "psychiatric evaluation by a psychiatrist at 2025-02-07"),
        # An evaluator the record does not resolve may be the psychiatrist (was not-met).
        *[(d(EVAL, "unknown", SIX_A, performed_by("P4-eval", actor, *extra), name=f"evaluator-{name}"),
           "psychiatric evaluation by a clinician who could not be identified")
          for name, actor, extra in UNRESOLVED_ACTORS],
        # The psychologist (PhD) and a psychiatric nurse practitioner's role are not psychiatrists.
        (d(EVAL, "not-met", SIX_A, performed_by("P4-eval", {"reference": "Practitioner/P4-osei"}),
           name="by-the-psychologist"), "no psychiatric evaluation by a psychiatrist"),
        (d(EVAL, "not-met", SIX_A, performed_by("P4-eval", *NURSE_PRACTITIONER_ROLE[:1], *NURSE_PRACTITIONER_ROLE[1]),
           name="by-a-psychiatric-nurse-practitioner's-role"), "no psychiatric evaluation by a psychiatrist"),
    ],
    text=TEXT,
)  # fmt: skip

# #7.a "A psychiatrist continues to see the member at least weekly when the member has been directly admitted from an
# inpatient setting." P4 was seen by no psychiatrist from 02-17 to 02-23 unless the visit of the 19th is added.
test_psychiatrist_sees_the_member_weekly = sentence_test(
    [
        (d(WEEKLY, "met", SEVEN_A, PSYCHIATRIST_ON_19,
           performed_by("psy-19", {"reference": "PractitionerRole/P4-psy-role"}, PSY_ROLE), name="19th-by-role"),
         "service by a psychiatrist"),
        *[(d(WEEKLY, "unknown", SEVEN_A, PSYCHIATRIST_ON_19, performed_by("psy-19", actor, *extra),
             name=f"19th-by-{name}"), "service by a clinician who could not be identified")
          for name, actor, extra in UNRESOLVED_ACTORS],
        (d(WEEKLY, "not-met", SEVEN_A, PSYCHIATRIST_ON_19,
           performed_by("psy-19", {"reference": "Practitioner/P4-licsw"}), name="19th-by-the-social-worker"),
         "2025-02-17"),
    ],
    text=TEXT,
)  # fmt: skip


def psychiatry_follow_up_by(actor: dict[str, Any], *resources: dict[str, Any]) -> Any:
    """P4's psychiatry appointment on 03-18 names no specialty; its clinician is ``actor``; adds ``resources``."""

    def change(bundle: Bundle) -> None:
        appointment = by_id(bundle, "P4-psychiatry")
        appointment.pop("specialty")
        appointment["participant"][1] = {"actor": actor, "status": "accepted"}
        with_(*resources)(bundle)

    return change


def group_on_the_19th(*participants: str) -> Any:
    """P4's session of 02-19 lists these clinicians (references) as its participants."""

    def change(bundle: Bundle) -> None:
        by_id(bundle, "P4-sess-19")["participant"] = [{"individual": {"reference": who}} for who in participants]

    return change


# #7.a on a session: one of its clinicians the record does not resolve may be the psychiatrist (the social worker
# beside it does not settle it); a session with the social worker and a relative has no psychiatrist.
test_psychiatrist_among_the_session_clinicians = sentence_test(
    [
        (d(WEEKLY, "unknown", SEVEN_A, group_on_the_19th("Practitioner/P4-licsw", "PractitionerRole/P4-gone"),
           name="group-with-an-unresolved-clinician"), "service by a clinician who could not be identified"),
        (d(WEEKLY, "met", SEVEN_A, group_on_the_19th("Practitioner/P4-licsw", "PractitionerRole/P4-psy-role"),
           with_(PSY_ROLE), name="group-with-the-psychiatrist's-role"), "service by a psychiatrist"),
        (d(WEEKLY, "not-met", SEVEN_A, group_on_the_19th("Practitioner/P4-licsw", "RelatedPerson/P4-mother"),
           name="group-with-the-social-worker-and-a-relative"), "2025-02-17"),
    ],
    text=TEXT,
)  # fmt: skip


# #10.b.iii "the first follow-up psychiatric assessment": an appointment with the psychiatrist's role is one.
test_first_psychiatric_follow_up = sentence_test(
    [
        (d(FOLLOW_UP, "met", TEN_B3,
           psychiatry_follow_up_by({"reference": "PractitionerRole/P4-psy-role"}, PSY_ROLE), name="psychiatrist-role"),
         "psychiatric follow-up appointment"),
        (d(FOLLOW_UP, "met", TEN_B3,
           psychiatry_follow_up_by({"reference": "PractitionerRole/pmhnp-role"}, PSYCHIATRIC_NP,
                                   role("pmhnp-role", "Practitioner/pmhnp")), name="psychiatric-np-role"),
         "psychiatric follow-up appointment"),
        (d(FOLLOW_UP, "not-met", TEN_B3,
           psychiatry_follow_up_by({"reference": "PractitionerRole/licsw-role"},
                                   role("licsw-role", "Practitioner/P4-licsw")), name="social-worker-role"),
         "no psychiatric follow-up appointment"),
    ],
    text=TEXT,
)  # fmt: skip
