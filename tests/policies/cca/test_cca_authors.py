"""CCA IOP performance specifications: who is on the member's team. A PractitionerRole counts as the practitioner it
names; a clinician on the team the record does not identify leaves "multi-disciplinary" unknown, never a confident
not-met; a team whose clinicians are all identified and of one discipline is not multidisciplinary. Cases on golden
P6 at its discharge."""

from __future__ import annotations

from typing import Any

from sentence_cases import Bundle, add, by_id, sentence_test
from test_cca_sentences import MDT, discharge

TEXT = "cca-iop-performance-spec.txt"
ASSIGNED = "cca.assessment.2-mdt-assigned"
SCT = "http://snomed.info/sct"
NUCC = "http://nucc.org/provider-taxonomy"


def role(rid: str, practitioner: str | None) -> dict[str, Any]:
    """A PractitionerRole naming this practitioner (or none), with no code or specialty of its own."""
    named = {"practitioner": {"reference": practitioner}} if practitioner else {}
    return {"resourceType": "PractitionerRole", "id": rid, "active": True} | named


def team(*members: tuple[str, str | None], resources: tuple[dict[str, Any], ...] = ()) -> Any:
    """P6's care team lists these (member reference, SNOMED role code or None) participants; adds ``resources``."""

    def change(bundle: Bundle) -> None:
        participants = []
        for member, code in members:
            coded = {"role": [{"coding": [{"system": SCT, "code": code}]}]} if code else {}
            participants.append(coded | {"member": {"reference": member}})
        by_id(bundle, "P6-team")["participant"] = participants
        add(bundle, *resources)

    return change


SOCIAL_WORKER = ("Practitioner/P6-licsw", "106328005")
SECOND_SOCIAL_WORKER = {
    "resourceType": "Practitioner",
    "id": "X-msw",
    "qualification": [{"code": {"coding": [{"system": NUCC, "code": "1041C0700X"}]}}],
}
MSW_ROLE = role("msw-role", "Practitioner/X-msw")
UNIDENTIFIED = "a care team of this stay with a clinician the record does not identify"

# "A multi-disciplinary treatment team has been assigned to each member"
test_a_multidisciplinary_team_is_assigned = sentence_test(
    [
        # The nurse and the psychiatrist named by their PractitionerRoles, no role coded on the team.
        (discharge(ASSIGNED, "met", MDT, team(("PractitionerRole/rn-role", None), ("PractitionerRole/psy-role", None),
                   resources=(role("rn-role", "Practitioner/P6-rn"), role("psy-role", "Practitioner/P6-psy"))),
                   name="nurse and psychiatrist by their roles"), "care team with at least two"),
        # Beside the social worker, a clinician the record does not identify may be the nurse or the psychiatrist
        # (was not-met).
        (discharge(ASSIGNED, "unknown", MDT, team(SOCIAL_WORKER, ("PractitionerRole/gone", None)),
                   name="social worker and a role not in the record"), UNIDENTIFIED),
        (discharge(ASSIGNED, "unknown", MDT, team(SOCIAL_WORKER, ("PractitionerRole/r0", None),
                                                  resources=(role("r0", None),)),
                   name="social worker and a role naming nobody"), UNIDENTIFIED),
        (discharge(ASSIGNED, "unknown", MDT, team(SOCIAL_WORKER, ("Practitioner/X-gone", None)),
                   name="social worker and a practitioner not in the record"), UNIDENTIFIED),
        # Two social workers, the second named by her role: one discipline (unchanged).
        (discharge(ASSIGNED, "not-met", MDT, team(SOCIAL_WORKER, ("PractitionerRole/msw-role", None),
                                                  resources=(SECOND_SOCIAL_WORKER, MSW_ROLE)),
                   name="two social workers, one by her role"), "care team with at least two"),
        # A relative on the team is no clinician: the social worker alone is one discipline.
        (discharge(ASSIGNED, "not-met", MDT, team(SOCIAL_WORKER, ("RelatedPerson/P6-sister", None)),
                   name="social worker and a relative"), "care team with at least two"),
    ],
    text=TEXT,
)  # fmt: skip
