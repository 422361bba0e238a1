"""BH803 (Optum Medicare Coverage Summary, IOP): who wrote or signed it. A PractitionerRole counts as the practitioner
it names; an author or signer the record does not resolve leaves the sentence unknown, never a confident not-met; one
identified as someone else than the sentence names is evidence against. Cases on golden P8 at the continuation order
(2025-03-10), long after the plan of care was due."""

from __future__ import annotations

from typing import Any

from sentence_cases import Bundle, Review, add, adding, review_test
from test_bh803_review import NUCC, NUCC_COUNSELLOR, P8_RENEWAL_AT, PLAN_QUOTE, V2_0360, plan_author, practitioner, role
from test_bh803_sentences import Q_CERT_ON_ADMISSION, Q_PLAN_MDT, Q_RECERT_SIGNER, Q_TX_PLAN

POLICY = "bh803"
TEXT = "optum-medicare-bh803-iop.txt"
DOC2 = "bh803.doc.2-plan-of-care-by-physician"
DOC4 = "bh803.doc.4-recert-signer-treating-physician"
DOC6 = "bh803.doc.6-tx-plan-physician-signed-goals"
PROGRAM2 = "bh803.program.2-individualized-plan-mdt"
UNIDENTIFIED = (
    "CarePlan/P8-tp (of 2025-01-07 12:00 -05:00), a treatment plan of this stay whose author could not be identified"
)

# The plan's author, as US Core records it: the psychiatrist's role, a role or practitioner the record does not hold,
# a role naming no practitioner, a display-only reference, a contained Practitioner, a nurse, a counsellor's role.
RUIZ_ROLE = plan_author("PractitionerRole/P8-ruiz-role", role("P8-ruiz-role", "Practitioner/P8-ruiz"))
ROLE_NOT_IN_RECORD = plan_author("PractitionerRole/P8-gone")
ROLE_WITHOUT_PRACTITIONER = plan_author("PractitionerRole/P8-r0", role("P8-r0", None))
PRACTITIONER_NOT_IN_RECORD = plan_author("Practitioner/P8-gone")
NURSE = plan_author("Practitioner/P8-rn", practitioner("P8-rn", V2_0360, "RN"))
COUNSELLOR_ROLE = plan_author(
    "PractitionerRole/P8-cadc-role",
    practitioner("P8-cadc", NUCC, NUCC_COUNSELLOR),
    role("P8-cadc-role", "Practitioner/P8-cadc"),
)
NURSE_PRACTITIONER = plan_author("Practitioner/P8-np", practitioner("P8-np", V2_0360, "NP"))


def display_only(bundle: Bundle) -> None:
    """P8's plan names its author by display only (``{"display": "Dr Smith"}``): nobody the record can look up."""
    plan = next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == "P8-tp")
    plan["author"] = {"display": "Dr Smith"}


def no_plan(bundle: Bundle) -> None:
    """P8 has no treatment plan at all."""
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"].get("resourceType") != "CarePlan"]


MD_IN_TEXT = {"resourceType": "Practitioner", "id": "P8-md-text", "qualification": [{"code": {"text": "MD"}}]}

PLAN_CASES: list[tuple[str, Any, str, str]] = [
    ("plan by the psychiatrist's role", RUIZ_ROLE, "met", "treatment plan by a physician"),
    ("author role not in the record", ROLE_NOT_IN_RECORD, "unknown", UNIDENTIFIED),
    ("author role naming no practitioner", ROLE_WITHOUT_PRACTITIONER, "unknown", UNIDENTIFIED),
    ("author practitioner not in the record", PRACTITIONER_NOT_IN_RECORD, "unknown", UNIDENTIFIED),
    ("author by display only", display_only, "unknown", UNIDENTIFIED),
    ("plan by a registered nurse", NURSE, "not-met", "no treatment plan by a physician"),
    ("plan by an addiction counsellor's role", COUNSELLOR_ROLE, "not-met", "no treatment plan by a physician"),
    # "established by the physician": a nurse practitioner is no physician outside the OTP section
    ("plan by a nurse practitioner", NURSE_PRACTITIONER, "not-met", "no treatment plan by a physician"),
    # P8's social worker is qualified by the text "LICSW" only: a credential that is no physician's. "MD" as text
    # only is not coded: the author is not identified.
    (
        "plan by the social worker qualified in text",
        plan_author("Practitioner/P8-licsw"),
        "not-met",
        "no treatment plan by a physician",
    ),
    ("author qualified MD in text only", plan_author("Practitioner/P8-md-text", MD_IN_TEXT), "unknown", UNIDENTIFIED),
    ("no plan nine weeks in", no_plan, "not-met", "no treatment plan by a physician"),
]

# "Intensive outpatient services must be furnished under an individualized written plan of care, established by the
# physician": an unresolved author may be the physician (was not-met once the plan was due).
test_plan_of_care_established_by_the_physician = review_test(
    Review(DOC2, PLAN_QUOTE, "P8", "order-sign", P8_RENEWAL_AT, POLICY, text=TEXT), PLAN_CASES
)
# "an individualized treatment plan, prescribed and signed by a physician" (was not-met for an unresolved author).
test_treatment_plan_prescribed_and_signed_by_a_physician = review_test(
    Review(DOC6, Q_TX_PLAN, "P8", "order-sign", P8_RENEWAL_AT, POLICY, text=TEXT), PLAN_CASES
)
# "a multidisciplinary team approach to patient care under the direction of a physician": the plan must be a
# physician's (was not-met for an unresolved author).
test_team_plan_under_the_direction_of_a_physician = review_test(
    Review(PROGRAM2, Q_PLAN_MDT, "P8", "order-sign", P8_RENEWAL_AT, POLICY, text=TEXT),
    [
        (name, change, status, "physician's treatment plan addressing" if status != "unknown" else phrase)
        for name, change, status, phrase in PLAN_CASES
    ],
)


def recertified_by(reference: dict[str, str], *resources: dict[str, Any]) -> Any:
    """A recertification document of P8 on 2025-03-05 authenticated by ``reference``; adds ``resources``."""
    document = {
        "resourceType": "DocumentReference",
        "id": "P8-recert-0305",
        "status": "current",
        "subject": {"reference": "Patient/P8-patient"},
        "date": "2025-03-05T10:00:00-07:00",
        "type": {"coding": [{"system": "urn:iop-cds:local", "code": "iop-recertification"}]},
        "authenticator": reference,
        "content": [{"attachment": {"contentType": "application/pdf"}}],
    }
    return adding(document, *resources)


def continuation_requested_by(reference: str, *resources: dict[str, Any]) -> Any:
    """P8's continuation order (itself the recertification; golden: Dr Blake, off the care team) requested by
    ``reference``; adds ``resources``."""

    def change(bundle: Bundle) -> None:
        order = next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == "P8-order-2")
        order["requester"] = {"reference": reference}
        add(bundle, *resources)

    return change


def care_team(*members: str) -> Any:
    """P8's care team lists exactly these member references."""

    def change(bundle: Bundle) -> None:
        team = next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == "P8-team")
        team["participant"] = [{"member": {"reference": member}} for member in members]

    return change


def ruiz_on_the_team_by_role(bundle: Bundle) -> None:
    """Dr Ruiz requests the continuation order herself; the care team names her by her PractitionerRole."""
    continuation_requested_by("Practitioner/P8-ruiz", RUIZ_ROLE_RESOURCE)(bundle)
    care_team("PractitionerRole/P8-ruiz-role", "Practitioner/P8-licsw")(bundle)


def ruiz_off_the_team(bundle: Bundle) -> None:
    """Dr Ruiz requests the continuation order; the care team lists only the social worker."""
    continuation_requested_by("Practitioner/P8-ruiz")(bundle)
    care_team("Practitioner/P8-licsw")(bundle)


RUIZ_ROLE_RESOURCE = role("P8-ruiz-role", "Practitioner/P8-ruiz")
TREATING = "recertification signed by a treating physician"
NOT_A_PHYSICIAN = "recertification signed by a practitioner who is not a physician"

# "The physician recertification must be signed by a physician who is treating the patient and has knowledge of the
# patient's response to treatment." The signer named by role is judged as the practitioner the role names (was
# unknown for each role case).
test_recertification_signed_by_a_treating_physician = review_test(
    Review(DOC4, Q_RECERT_SIGNER, "P8", "order-sign", P8_RENEWAL_AT, POLICY, text=TEXT),
    [
        ("recertification authenticated by the psychiatrist's role",
         recertified_by({"reference": "PractitionerRole/P8-ruiz-role"}, RUIZ_ROLE_RESOURCE), "met", TREATING),
        ("continuation order requested by the psychiatrist's role",
         continuation_requested_by("PractitionerRole/P8-ruiz-role", RUIZ_ROLE_RESOURCE), "met", TREATING),
        # Dr Ruiz treats P8 as a care-team member named by her role.
        ("psychiatrist on the care team by her role", ruiz_on_the_team_by_role, "met", TREATING),
        # Dr Ruiz off the care team (only the social worker on it) and on no session: she may still treat P8.
        ("psychiatrist off the care team", ruiz_off_the_team, "unknown", TREATING),
        ("recertification authenticated by a nurse's role",
         recertified_by({"reference": "PractitionerRole/P8-rn-role"}, practitioner("P8-rn", V2_0360, "RN"),
                        role("P8-rn-role", "Practitioner/P8-rn")), "not-met", NOT_A_PHYSICIAN),
        ("continuation order requested by a counsellor's role",
         continuation_requested_by("PractitionerRole/P8-cadc-role", practitioner("P8-cadc", NUCC, NUCC_COUNSELLOR),
                                   role("P8-cadc-role", "Practitioner/P8-cadc")), "not-met", NOT_A_PHYSICIAN),
        ("continuation order requested by the social worker qualified in text",
         continuation_requested_by("Practitioner/P8-licsw"), "not-met", NOT_A_PHYSICIAN),
        # Nobody the record resolves: may be a treating physician, may not.
        ("continuation order requested by a role not in the record",
         continuation_requested_by("PractitionerRole/P8-gone"), "unknown", TREATING),
        ("continuation order requested by a role naming no practitioner",
         continuation_requested_by("PractitionerRole/P8-r0", role("P8-r0", None)), "unknown", TREATING),
        ("recertification by display only, order by an unheld role",
         (recertified_by({"display": "Dr Smith"}), continuation_requested_by("PractitionerRole/P8-gone")), "unknown",
         TREATING),
    ],
)  # fmt: skip


DOC1 = "bh803.doc.1-initial-cert-upon-admission"
RN = practitioner("P8-rn", V2_0360, "RN")


def certified_by(signer: dict[str, str], requester: str, *resources: dict[str, Any]) -> Any:
    """P8's initial certification (golden: Dr Ruiz, 01-06) authenticated by ``signer``, and the first IOP order
    (golden: Dr Ruiz) requested by ``requester``; adds ``resources``."""

    def change(bundle: Bundle) -> None:
        for entry in bundle["entry"]:
            if entry["resource"].get("id") == "P8-cert":
                entry["resource"]["authenticator"] = signer
            if entry["resource"].get("id") == "P8-order-1":
                entry["resource"]["requester"] = {"reference": requester}
        add(bundle, *resources)

    return change


# "Upon admission, certification by the physician must be made that the patient admitted to the IOP requires a
# minimum of 9 hours of services per week."
test_certification_by_the_physician_upon_admission = review_test(
    Review(DOC1, Q_CERT_ON_ADMISSION, "P8", "order-sign", P8_RENEWAL_AT, POLICY, text=TEXT),
    [
        ("certification by the psychiatrist's role, order by a nurse",
         certified_by({"reference": "PractitionerRole/P8-ruiz-role"}, "Practitioner/P8-rn", RUIZ_ROLE_RESOURCE, RN),
         "met", "physician certification of the need for IOP at 2025-01-06"),
        # Certifier and orderer the record does not resolve: may be the physician (was not-met).
        ("certification and order by roles not in the record",
         certified_by({"reference": "PractitionerRole/P8-gone"}, "PractitionerRole/P8-gone"), "unknown",
         "could not be identified: confirm"),
        ("certification signed by display only, order by a nurse",
         certified_by({"display": "Dr Smith"}, "Practitioner/P8-rn", RN), "unknown",
         "whose signer could not be identified"),
        ("certification and order by a nurse",
         certified_by({"reference": "Practitioner/P8-rn"}, "Practitioner/P8-rn", RN),
         "not-met", "physician certification of the need for IOP"),
    ],
)  # fmt: skip


TEAM_UNIDENTIFIED = "care team of the treatment plan with a clinician the record does not identify"

# "includes a multidisciplinary team approach to patient care under the direction of a physician": P8's plan (by Dr
# Ruiz) has a team of these members; the social worker is on it by her "LICSW" credential.
TEAM_CASES: list[tuple[str, Any, str, str]] = [
    (
        "psychiatrist by her role and the social worker",
        (care_team("PractitionerRole/P8-ruiz-role", "Practitioner/P8-licsw"), adding(RUIZ_ROLE_RESOURCE)),
        "met",
        "physician on the treatment plan's care team",
    ),
    # A member the record does not resolve may be the physician (was not-met).
    (
        "social worker and a role not in the record",
        care_team("Practitioner/P8-licsw", "PractitionerRole/P8-gone"),
        "unknown",
        TEAM_UNIDENTIFIED,
    ),
    (
        "social worker and a role naming nobody",
        (care_team("Practitioner/P8-licsw", "PractitionerRole/P8-r0"), adding(role("P8-r0", None))),
        "unknown",
        TEAM_UNIDENTIFIED,
    ),
    # Every member identified and none a physician: no physician's direction.
    (
        "social worker and a nurse",
        (care_team("Practitioner/P8-licsw", "Practitioner/P8-rn"), adding(RN)),
        "not-met",
        "physician on the treatment plan's care team",
    ),
]
test_team_under_the_direction_of_a_physician = review_test(
    Review(PROGRAM2, Q_PLAN_MDT, "P8", "order-sign", P8_RENEWAL_AT, POLICY, text=TEXT), TEAM_CASES
)
test_treatment_plan_with_a_multidisciplinary_team = review_test(
    Review(DOC6, Q_TX_PLAN, "P8", "order-sign", P8_RENEWAL_AT, POLICY, text=TEXT), TEAM_CASES
)
