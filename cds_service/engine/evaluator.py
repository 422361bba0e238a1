"""Three-valued evaluation of policy trees on a PatientRecord, with evidence and a reason for every outcome."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cds_service.engine.context import EvaluationContext, resource_key
from cds_service.engine.episode import Episode, derive_episode
from cds_service.engine.mapping import Mappings
from cds_service.engine.outcome import Status, all_of, combine
from cds_service.engine.policy import Criterion, Group, Node, Policy
from cds_service.engine.rules.base import RuleResult, format_time
from cds_service.engine.timecalc import BusinessCalendar, local_date, parse_instant
from cds_service.record.patient_record import PatientRecord, Resource, reference_key


@dataclass
class CriterionResult:
    """One node's outcome as reported in ``extension["iop-cds.evaluations"]``."""

    id: str
    status: Status
    citation: str
    evidence: list[str]
    reason: str
    text: str = ""
    tier: str = "documentation"
    due: datetime | None = None
    attested: bool = False
    group: bool = False
    suggest: str | None = None
    superseded: bool = False
    """Inside an any-of group that is already met: listed for completeness, never carded."""
    gated: bool = False
    """Unknown only because its section may not apply: no answer about the criterion itself can decide it."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "status": self.status.value,
            "citation": self.citation,
            "evidence": self.evidence,
            "reason": self.reason,
        }
        if self.due:
            out["due"] = self.due.isoformat()
        if self.attested:
            out["attested"] = True
        if self.superseded:
            out["superseded"] = True
        return out


@dataclass
class PolicyEvaluation:
    """A policy's verdict for one phase, with every criterion that applies."""

    policy: Policy
    phase: str
    outcome: Status
    criteria: list[CriterionResult]
    order: str | None = None
    episode: Episode | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "policy": self.policy.key,
            "phase": self.phase,
            "outcome": self.outcome.value,
            "criteria": [c.to_json() for c in self.criteria],
        }
        if self.order:
            out["order"] = self.order
        return out

    def by_id(self, criterion_id: str) -> CriterionResult | None:
        return next((c for c in self.criteria if c.id == criterion_id), None)


@dataclass(frozen=True)
class Attestation:
    value: bool
    source: str
    authored: datetime


def index_attestations(
    record: PatientRecord, patient_id: str | None, now: datetime, validity: timedelta
) -> dict[str, Attestation]:
    """Latest valid boolean answer per criterion id (linkId) from completed QuestionnaireResponses."""
    found: dict[str, Attestation] = {}
    patient_key = f"Patient/{patient_id}" if patient_id else None
    for qr in record.of_type("QuestionnaireResponse"):
        if qr.get("status") != "completed":
            continue
        subject = (
            reference_key((qr.get("subject") or {}).get("reference")) if isinstance(qr.get("subject"), dict) else None
        )
        if patient_key and subject and subject != patient_key:
            continue
        authored = parse_instant(qr.get("authored"))
        if authored is None or authored > now or authored < now - validity:
            continue
        stack = list(qr.get("item") or [])
        while stack:
            item = stack.pop()
            if not isinstance(item, dict):
                continue
            stack.extend(item.get("item") or [])
            answers = item.get("answer") or []
            link = item.get("linkId")
            value = answers[0].get("valueBoolean") if answers and isinstance(answers[0], dict) else None
            if isinstance(link, str) and isinstance(value, bool):
                current = found.get(link)
                if current is None or authored > current.authored:
                    found[link] = Attestation(value, resource_key(qr), authored)
    return found


def _describe_group(kind: str, n: int) -> str:
    return f"{n}-of" if kind == "n-of" else kind


class PolicyEvaluator:
    """Evaluates one policy tree in one phase; each node once (memoised), reported in tree order."""

    def __init__(
        self,
        policy: Policy,
        ctx: EvaluationContext,
        attestations: dict[str, Attestation],
        program_attestations: dict[str, Attestation] | None = None,
    ) -> None:
        self.policy = policy
        self.ctx = ctx
        self.phase = ctx.phase
        self.attestations = attestations
        self.program_attestations = program_attestations or {}
        self.results: dict[str, CriterionResult] = {}
        self._status: dict[tuple[int, bool], Status] = {}
        self._active: set[int] = set()

    def run(self) -> PolicyEvaluation:
        self.ctx.criterion_status = self.status_of
        self.ctx.attestation_of = self.attestation_of
        outcome = self.node(self.policy.tree, forced=False)
        ordered = [self.results[node_id] for node_id in self.policy.nodes if node_id in self.results]
        self._mark_superseded(self.policy.tree, False)
        return PolicyEvaluation(self.policy, self.phase, outcome, ordered)

    def _mark_superseded(self, node: Node, superseded: bool) -> None:
        if isinstance(node, Criterion):
            if superseded and node.id in self.results:
                self.results[node.id].superseded = True
            return
        met_any = node.kind == "any-of" and self._status.get((id(node), False)) == Status.MET
        for child in node.children:
            child_superseded = superseded or (met_any and self._status.get((id(child), False)) != Status.MET)
            self._mark_superseded(child, child_superseded)
            if child_superseded and isinstance(child, Group) and child.id in self.results:
                self.results[child.id].superseded = True

    def attestation_of(self, criterion_id: str) -> tuple[bool, str, datetime] | None:
        """The valid attestation answering for a criterion id, as (answer, source, authored)."""
        found = self.attestations.get(criterion_id)
        return (found.value, found.source, found.authored) if found else None

    def status_of(self, criterion_id: str) -> Status | None:
        """Status of another node of this policy in this phase (None if it is not part of the phase)."""
        node = self.policy.nodes.get(criterion_id)
        if node is None or not node.present_in(self.phase):
            return None
        return self.node(node, forced=False)

    def node(self, node: Node, forced: bool) -> Status:
        key = (id(node), forced)
        if key in self._status:
            return self._status[key]
        if key in self._active:  # a rule refers back to a node being evaluated: undecidable here
            return Status.UNKNOWN
        self._active.add(key)
        try:
            status = self._group(node, forced) if isinstance(node, Group) else self._criterion(node, forced)
        finally:
            self._active.discard(key)
        self._status[key] = status
        return status

    def _report(self, result: CriterionResult, forced: bool) -> None:
        if not forced:
            self.results[result.id] = result

    def _group(self, group: Group, forced: bool) -> Status:
        children = [c for c in group.children if forced or c.present_in(self.phase)]
        if group.applies_if is not None:
            gate = group.applies_if.check(self.ctx)
            if gate.value is False:
                self._not_applicable(group, forced, f"does not apply: {gate.detail}")
                return Status.NOT_APPLICABLE
            if gate.value is None:
                self._undetermined(group, forced, f"may not apply: whether it applies is unknown ({gate.detail})")
                return Status.UNKNOWN
        statuses = [self.node(c, forced) for c in children]
        status = combine(group.kind, statuses, group.n)
        if group.id:
            counted = [
                (c, s)
                for c, s in zip(children, statuses, strict=True)
                if s in (Status.MET, Status.NOT_MET, Status.UNKNOWN)
            ]
            summary = ", ".join(f"{getattr(c, 'id', None) or 'group'} {s.value}" for c, s in counted[:8])
            evidence: list[str] = []
            for c, _ in counted:
                if getattr(c, "id", None) in self.results:
                    evidence.extend(e for e in self.results[c.id].evidence if e not in evidence)  # type: ignore[union-attr]
            self._report(
                CriterionResult(
                    id=group.id,
                    status=status,
                    citation=group.citation,
                    evidence=evidence[:20],
                    reason=f"{_describe_group(group.kind, group.n)}: {summary}" if summary else "no criterion applies",
                    text=group.text,
                    group=True,
                ),
                forced,
            )
        return status

    def _not_applicable(self, node: Node, forced: bool, reason: str) -> None:
        if isinstance(node, Criterion):
            if forced or node.present_in(self.phase):
                self._report(
                    CriterionResult(node.id, Status.NOT_APPLICABLE, node.citation, [], reason, node.text, node.tier),
                    forced,
                )
            self._status[(id(node), forced)] = Status.NOT_APPLICABLE
            return
        if node.id and (forced or node.present_in(self.phase)):
            self._report(
                CriterionResult(node.id, Status.NOT_APPLICABLE, node.citation, [], reason, node.text, group=True),
                forced,
            )
        self._status[(id(node), forced)] = Status.NOT_APPLICABLE
        for child in node.children:
            self._not_applicable(child, forced, reason)

    def _undetermined(self, node: Node, forced: bool, reason: str) -> None:
        """A section whose gate is undecided: every node in it is unknown, none is decided on its own."""
        status = Status.UNKNOWN
        if isinstance(node, Criterion):
            if self._status.get((id(node), forced)) == status:
                return  # already unknown on its own account (the gate criterion itself): keep its reason
            if forced or node.present_in(self.phase):
                result = CriterionResult(node.id, status, node.citation, [], reason, node.text, node.tier, gated=True)
                self._report(result, forced)
            self._status[(id(node), forced)] = status
            return
        if node.id and (forced or node.present_in(self.phase)):
            self._report(CriterionResult(node.id, status, node.citation, [], reason, node.text, group=True), forced)
        self._status[(id(node), forced)] = status
        for child in node.children:
            self._undetermined(child, forced, reason)

    def _criterion(self, c: Criterion, forced: bool) -> Status:
        result = self._decide(c, forced)
        self._report(result, forced)
        return result.status

    def _decide(self, c: Criterion, forced: bool) -> CriterionResult:
        def out(status: Status, reason: str, rule: RuleResult | None = None, **extra: Any) -> CriterionResult:
            return CriterionResult(
                c.id,
                status,
                c.citation,
                list(rule.evidence) if rule else [],
                reason,
                c.text,
                c.tier,
                due=rule.due if rule else None,
                suggest=c.suggest,
                **extra,
            )

        if not forced and c.pending_in(self.phase):
            due = c.due.resolve(self.ctx) if c.due else None
            when = f"due by {format_time(due, self.ctx.calendar.zone)}" if due else "due after admission"
            return CriterionResult(
                c.id, Status.PENDING, c.citation, [], f"not due yet: {when}", c.text, c.tier, due=due, suggest=c.suggest
            )
        if c.applies_if is not None:
            gate = c.applies_if.check(self.ctx)
            if gate.value is False:
                return out(Status.NOT_APPLICABLE, f"does not apply: {gate.detail}", gate)
            if gate.value is None:
                # An unknown age is neither "under 18" nor "adult": the criterion may not apply at all.
                return self._attest(
                    c, out(Status.UNKNOWN, f"may not apply: whether it applies is unknown ({gate.detail})", gate)
                )
        if c.mirror:
            statuses = []
            for target in c.mirror:
                node = self.policy.nodes[target]
                statuses.append(self.node(node, forced=forced or not node.present_in(self.phase)))
            status = all_of(statuses)
            parts = ", ".join(f"{t} {s.value}" for t, s in zip(c.mirror, statuses, strict=True))
            return self._attest(c, out(status, f"mirrors {parts}"))
        if c.not_met_if is not None:
            refute = c.not_met_if.check(self.ctx)
            if refute.value is True:
                not_owed = self._not_owed(c)
                if not_owed:
                    return out(Status.NOT_APPLICABLE, not_owed, refute)
                if self._absence_is_failure(c, refute):
                    return out(Status.NOT_MET, refute.detail, refute)
                if due_later := self._due_later(c):
                    return out(Status.PENDING, f"not due yet ({due_later}): {refute.detail}", refute)
                return self._attest(c, out(Status.UNKNOWN, not_found(refute.detail), refute))
        else:
            refute = None
        if c.met_if is not None:
            support = c.met_if.check(self.ctx)
            if support.value is True and support.not_due:
                return out(Status.NOT_APPLICABLE, support.detail, support)
            if (
                support.value is True
                and refute is not None
                and refute.value is None
                and (refute.contested or refute.gaps)
            ):
                # Contrary evidence that is contested, or could sit in an unreadable source, is not ruled out.
                reason = f"{refute.detail} (supporting evidence: {support.detail})"
                return self._attest(c, out(Status.UNKNOWN, reason, refute))
            if support.value is True:
                if c.confirm:
                    return self._attest(
                        c,
                        out(
                            Status.UNKNOWN,
                            f"supporting evidence found ({support.detail}); needs a clinician's attestation",
                            support,
                        ),
                    )
                note = f" ({refute.note})" if refute is not None and refute.note else ""
                return out(Status.MET, support.detail + note, support)
            if support.pending:
                return out(Status.PENDING, f"not due yet: {support.detail}", support)
            not_owed = self._not_owed(c)
            if not_owed:
                return out(Status.NOT_APPLICABLE, not_owed, support)
            if support.value is False and c.closed_world:
                if self._absence_is_failure(c, support):
                    return out(Status.NOT_MET, support.detail, support)
                if due_later := self._due_later(c):
                    return out(Status.PENDING, f"not due yet ({due_later}): {support.detail}", support)
                return self._attest(c, out(Status.UNKNOWN, not_found(support.detail), support))
            detail = support.detail if support.value is None else f"not shown: {support.detail}"
            if refute is not None and refute.value is None and (refute.contested or refute.gaps):
                detail = f"{refute.detail}; {detail}"
            return self._attest(c, out(Status.UNKNOWN, detail, support))
        if c.attestation:
            return self._attest(c, out(Status.UNKNOWN, "clinical judgement: needs a clinician's attestation"))
        detail = refute.detail if refute else ""
        return self._attest(c, out(Status.UNKNOWN, f"no contrary evidence ({detail}); needs attestation", refute))

    def _not_owed(self, c: Criterion) -> str:
        """Why a duty of the stay is not owed: at discharge its ``due`` fell after the stay ended ('' if owed)."""
        if self.phase != "discharge" or c.due is None or not c.due.of_the_stay:
            return ""
        due, ended = c.due.resolve(self.ctx), self.ctx.anchor("TD")
        if due is None or ended is None or due <= ended:
            return ""
        zone = self.ctx.calendar.zone
        return f"not due: the stay ended at {format_time(ended, zone)}, before it fell due ({format_time(due, zone)})"

    def _absence_is_failure(self, c: Criterion, rule: RuleResult) -> bool:
        """Whether a failing answer may be not-met: it rests on evidence found, or on a duty's passed deadline."""
        if not rule.absence:
            return True
        if not c.duty:
            return False  # a state not found in structured data is not documented, not failed
        if rule.overdue:
            return True
        if c.due is not None:
            due = c.due.resolve(self.ctx)
            return due is not None and due <= self.ctx.now
        return self.phase == "discharge"  # a duty of the stay without its own due time: the stay has ended

    def _due_later(self, c: Criterion) -> str:
        """When an undone duty falls due, if that is still ahead ('' otherwise): its absence is no finding yet."""
        if not c.duty or c.due is None:
            return ""
        due = c.due.resolve(self.ctx)
        if due is None or due <= self.ctx.now:
            return ""
        return f"due {format_time(due, self.ctx.calendar.zone)}"

    def _attest(self, c: Criterion, result: CriterionResult) -> CriterionResult:
        if result.status != Status.UNKNOWN:
            return result
        attestation = self.program_attestations.get(c.id) if c.tier == "program" else self.attestations.get(c.id)
        if attestation is None:
            return result
        result.status = Status.MET if attestation.value else Status.NOT_MET
        result.attested = True
        result.reason = (
            f"attested {'yes' if attestation.value else 'no'} on "
            f"{local_date(attestation.authored, self.ctx.calendar.zone):%Y-%m-%d} ({attestation.source})"
        )
        result.evidence = [attestation.source, *[e for e in result.evidence if e != attestation.source]]
        return result


def not_found(detail: str) -> str:
    """The reason for an answer that rests on absence only: not documented, which is not a failure."""
    if "not found" in detail or "found in the record" in detail:
        return f"{detail} (not documented: unknown, not a failure)"
    return f"not found in the record: {detail}"


def evaluate(
    mappings: Mappings,
    record: PatientRecord,
    *,
    hook: str,
    now: datetime,
    policy_keys: list[str],
    orders: list[Resource] | None = None,
    draft_orders: list[Resource] | None = None,
    encounter_id: str | None = None,
    patient_id: str | None = None,
    calendar: BusinessCalendar | None = None,
    attestation_validity_days: int = 7,
    program_attestations: dict[str, Attestation] | None = None,
    unreadable: Mapping[str, Sequence[str]] | None = None,
) -> list[PolicyEvaluation]:
    """Evaluate the given policies for each IOP order (order-sign) or the discharged program.

    ``unreadable`` maps a resource type to the prefetch keys for it that could not be read: a rule that would decide
    from the absence of such resources answers unknown instead (DATA-PROFILE §6).
    """
    calendar = calendar or BusinessCalendar()
    attestations = index_attestations(record, patient_id, now, timedelta(days=attestation_validity_days))
    targets: list[Resource | None] = list(orders) if hook == "order-sign" else [None]
    results: list[PolicyEvaluation] = []
    for order in targets:
        ctx = EvaluationContext(
            record=record,
            facts=mappings.facts,
            selections=mappings.selections,
            now=now,
            phase="admission",
            calendar=calendar,
            valuesets=mappings.valuesets,
            unreadable={rtype: tuple(keys) for rtype, keys in (unreadable or {}).items()},
        )
        ctx.builtins["draft-orders"] = list(draft_orders or [])
        ctx.builtins["iop-order"] = [order] if order is not None else []
        episode = derive_episode(ctx, hook, order, encounter_id)
        if episode is None:
            continue
        try:
            for key in policy_keys:
                zoned = calendar.in_zone(mappings.policies[key].timezone)
                # Local dates, and so selections, differ per zone; policies of one zone share them.
                ctx.switch_zone(ctx.calendar.zone_name, zoned.zone_name)
                ctx.calendar = zoned
                evaluation = PolicyEvaluator(mappings.policies[key], ctx, attestations, program_attestations).run()
                evaluation.order = resource_key(order) if order is not None else None
                evaluation.episode = episode
                results.append(evaluation)
        finally:
            # The callbacks are bound to the last evaluator, which holds the context: without this the pair is a
            # reference cycle that keeps the whole record alive until a full garbage collection.
            ctx.release_callbacks()
    return results
