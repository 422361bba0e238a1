"""Turns a rule's YAML form into a Rule of the closed operator set."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cds_service.engine.facts import Fact
from cds_service.engine.outcome import Status
from cds_service.engine.rules.base import Always, Attested, CriterionIs, Logic, Rule
from cds_service.engine.rules.days import EachDay, Services
from cds_service.engine.rules.deadlines import (
    Cadence,
    Deadline,
    EveryWindow,
    Overlap,
    Recurring,
    SupplyBridge,
    parse_due,
)
from cds_service.engine.rules.evidence import Age, Change, CurrentState, Each, Exists, Latest
from cds_service.engine.rules.intensity import OrderIntensity, PlanIntensity
from cds_service.engine.selections import (
    COMPARATORS,
    PredicateCompiler,
    Selection,
    SpecError,
    parse_time_bound,
)


class RuleCompiler:
    """Turns a rule's YAML form into a Rule, raising SpecError naming what is wrong."""

    def __init__(self, predicates: PredicateCompiler, selections: dict[str, Selection], known_ids: set[str]) -> None:
        self.predicates = predicates
        self.selections = selections
        self.known_ids = known_ids
        self.operators: dict[str, Callable[[Any], Rule]] = {
            "exists": self._exists,
            "absent": self._absent,
            "count": self._count,
            "latest": self._latest,
            "change": self._change,
            "deadline": self._deadline,
            "recurring": self._recurring,
            "cadence": self._cadence,
            "bridge": self._bridge,
            "order": self._order,
            "plan": self._plan,
            "age": self._age,
            "overlap": self._overlap,
            "every-window": self._every_window,
            "each": self._each,
            "each-day": self._each_day,
            "current-state": self._current_state,
            "criterion": self._criterion,
            "attested": self._attested,
            "all": self._all,
            "any": self._any,
            "not": self._not,
        }

    def compile(self, spec: object) -> Rule:
        if spec in ("always", True):
            return Always(True)
        if spec in ("never", False):
            return Always(False)
        if not isinstance(spec, dict) or len(spec) != 1:
            raise SpecError(
                f"a rule is a mapping with exactly one operator ({', '.join(self.operators)}); got {spec!r}"
            )
        ((name, args),) = spec.items()
        if name not in self.operators:
            raise SpecError(f"unknown operator {name!r} (one of {', '.join(self.operators)})")
        return self.operators[name](args)

    def _selection(self, name: object) -> Selection:
        if isinstance(name, str) and name in self.selections:
            return self.selections[name]
        raise SpecError(f"unknown selection {name!r}")

    def _args(self, args: object, op: str, required: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(args, dict):
            raise SpecError(f"'{op}' takes a mapping")
        missing = [k for k in required if k not in args]
        if missing:
            raise SpecError(f"'{op}' needs {', '.join(missing)}")
        return args

    def _comparison(self, args: dict[str, Any], op: str) -> tuple[str, float]:
        if args.get("op") not in COMPARATORS:
            raise SpecError(f"'{op}' needs op (one of {', '.join(COMPARATORS)})")
        than = args.get("than")
        if isinstance(than, bool) or not isinstance(than, int | float):
            raise SpecError(f"'{op}' needs a numeric 'than'")
        return args["op"], float(than)

    def _time_fact(self, args: dict[str, Any], selection: Selection) -> Fact | None:
        if "time" in args:
            return self.predicates.fact(args["time"])
        if not selection.time and selection.name not in ("PROG", "SESS"):
            raise SpecError(f"selection {selection.name!r} has no 'time' fact; give 'time'")
        return None

    def _exists(self, args: object) -> Rule:
        if isinstance(args, str):
            return Exists(self._selection(args))
        a = self._args(args, "exists", ("of",))
        sel = self._selection(a["of"])
        return Exists(sel, self.predicates.compile_all(a.get("where"), None))

    def _absent(self, args: object) -> Rule:
        rule = self._exists(args)
        assert isinstance(rule, Exists)
        rule.negate = True
        return rule

    def _count(self, args: object) -> Rule:
        a = self._args(args, "count", ("of",))
        if "at-least" not in a and "at-most" not in a:
            raise SpecError("'count' needs at-least and/or at-most")
        sel = self._selection(a["of"])
        return Exists(
            sel,
            self.predicates.compile_all(a.get("where"), None),
            at_least=int(a.get("at-least", 0)),
            at_most=a.get("at-most"),
        )

    def _latest(self, args: object) -> Rule:
        a = self._args(args, "latest", ("of", "value", "op", "than"))
        sel = self._selection(a["of"])
        op, than = self._comparison(a, "latest")
        return Latest(sel, self.predicates.fact(a["value"]), self._time_fact(a, sel), op, than)

    def _change(self, args: object) -> Rule:
        a = self._args(args, "change", ("of", "value", "op", "than"))
        sel = self._selection(a["of"])
        op, than = self._comparison(a, "change")
        return Change(
            sel,
            self.predicates.fact(a["value"]),
            self._time_fact(a, sel),
            op,
            than,
            relative=bool(a.get("relative", False)),
        )

    def _deadline(self, args: object) -> Rule:
        a = self._args(args, "deadline", ("of", "due"))
        sel = self._selection(a["of"])
        if not isinstance(a.get("pending", True), bool):
            raise SpecError("'deadline' pending must be true or false")
        return Deadline(sel, self._time_fact(a, sel), parse_due(a["due"]), wait=a.get("pending", True))

    def _recurring(self, args: object) -> Rule:
        a = self._args(args, "recurring", ("of", "days"))
        sel = self._selection(a["of"])
        days = a["days"]
        if isinstance(days, bool) or not isinstance(days, int) or days < 1:
            raise SpecError("'recurring' days must be a positive whole number of calendar days")
        initial = self._selection(a["after"]) if "after" in a else None
        if initial is not None:
            self._time_fact({}, initial)  # the initial occurrence must be datable
        return Recurring(sel, self._time_fact(a, sel), days, parse_time_bound(a.get("from", "T0")), initial)

    def _order(self, args: object) -> Rule:
        a = self._args(args, "order", ("measure", "op", "than"))
        if a["measure"] not in ("hours-per-week", "sessions-per-week", "hours-per-session"):
            raise SpecError("'order' measure is hours-per-week, sessions-per-week or hours-per-session")
        op, than = self._comparison(a, "order")
        return OrderIntensity(a["measure"], op, than)

    def _plan(self, args: object) -> Rule:
        a = self._args(args, "plan", ("of", "measure", "op", "than"))
        if a["measure"] not in ("hours-per-week", "sessions-per-week"):
            raise SpecError("'plan' measure is hours-per-week or sessions-per-week")
        op, than = self._comparison(a, "plan")
        valueset = None
        if "activity-in" in a:
            if a["activity-in"] not in self.predicates.valuesets:
                raise SpecError(f"unknown value set {a['activity-in']!r}")
            valueset = self.predicates.valuesets[a["activity-in"]]
        sel = self._selection(a["of"])
        return PlanIntensity(sel, a["measure"], op, than, valueset, self._time_fact(a, sel))

    def _age(self, args: object) -> Rule:
        a = self._args(args, "age", ("at", "op", "than"))
        op, than = self._comparison(a, "age")
        return Age(parse_time_bound(a["at"]), op, than)

    def _overlap(self, args: object) -> Rule:
        a = self._args(args, "overlap", ("of", "with", "start", "end"))
        return Overlap(
            self._selection(a["of"]),
            self._selection(a["with"]),
            self.predicates.fact(a["start"]),
            self.predicates.fact(a["end"]),
        )

    def _every_window(self, args: object) -> Rule:
        a = self._args(args, "every-window", ("of", "days", "from", "to"))
        sel = self._selection(a["of"])
        return EveryWindow(
            sel,
            self._time_fact(a, sel),
            int(a["days"]),
            parse_time_bound(a["from"]),
            parse_time_bound(a["to"]),
            int(a.get("at-least", 1)),
            int(a["at-most"]) if "at-most" in a else None,
            hours_at_least=self._hours_bound(a, "hours-at-least"),
            hours_at_most=self._hours_bound(a, "hours-at-most"),
            distinct_days=self._flag(a, "distinct-days"),
            day_hours_at_least=self._hours_bound(a, "day-hours-at-least"),
        )

    @staticmethod
    def _flag(args: dict[str, Any], key: str) -> bool:
        value = args.get(key, False)
        if not isinstance(value, bool):
            raise SpecError(f"'every-window' {key} must be true or false")
        return value

    @staticmethod
    def _hours_bound(args: dict[str, Any], key: str, op: str = "every-window") -> float | None:
        value = args.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise SpecError(f"'{op}' {key} must be a non-negative number")
        return float(value)

    def _each_day(self, args: object) -> Rule:
        a = self._args(args, "each-day", ("of",))
        sel = self._selection(a["of"])
        hours = self._hours_bound(a, "hours-at-least", "each-day")
        services = None
        if "services" in a:
            s = self._args(a["services"], "each-day services", ("of", "via", "at-least"))
            at_least = s["at-least"]
            if isinstance(at_least, bool) or not isinstance(at_least, int) or at_least < 1:
                raise SpecError("'each-day' services at-least must be a positive integer")
            recorded = self._selection(s["recorded"]) if "recorded" in s else None
            services = Services(self._selection(s["of"]), self.predicates.fact(s["via"]), at_least, recorded)
        if hours is None and services is None:
            raise SpecError("'each-day' needs hours-at-least and/or services")
        return EachDay(sel, self._time_fact(a, sel), hours, services)

    def _cadence(self, args: object) -> Rule:
        a = self._args(args, "cadence", ("of", "max-treatment-days", "from", "to"))
        sel = self._selection(a["of"])
        return Cadence(
            sel,
            self._time_fact(a, sel),
            int(a["max-treatment-days"]),
            parse_time_bound(a["from"]),
            parse_time_bound(a["to"]),
        )

    def _bridge(self, args: object) -> Rule:
        a = self._args(args, "bridge", ("of", "supply-days", "until", "from"))
        until = self._selection(a["until"])
        return SupplyBridge(
            self._selection(a["of"]),
            self.predicates.fact(a["supply-days"]),
            until,
            self._time_fact({}, until),
            parse_time_bound(a["from"]),
            self.predicates.fact(a["refills"]) if "refills" in a else None,
            self.predicates.fact(a["supply-unit"]) if "supply-unit" in a else None,
            self.predicates.fact(a["quantity"]) if "quantity" in a else None,
            self.predicates.fact(a["dosage"]) if "dosage" in a else None,
        )

    def _each(self, args: object) -> Rule:
        a = self._args(args, "each", ("of", "where"))
        return Each(self._selection(a["of"]), self.predicates.compile_all(a["where"], None))

    def _current_state(self, args: object) -> Rule:
        a = self._args(args, "current-state", ("of", "assessments", "findings"))

        def selections(key: str) -> list[Selection]:
            names = a.get(key, [])
            names = [names] if isinstance(names, str) else names
            if not isinstance(names, list):
                raise SpecError(f"'current-state' {key} must be a list of selections")
            chosen = [self._selection(n) for n in names]
            if key == "assessments" and not chosen:
                raise SpecError("'current-state' needs at least one selection in assessments")
            for s in chosen:
                if not s.time:
                    raise SpecError(f"'current-state' {key}: selection {s.name!r} has no 'time' fact")
            return chosen

        return CurrentState(str(a["of"]), selections("assessments"), selections("findings"), selections("diagnoses"))

    def _criterion(self, args: object) -> Rule:
        if isinstance(args, str):
            args = {"id": args, "is": ["met"]}
        a = self._args(args, "criterion", ("id",))
        if a["id"] not in self.known_ids:
            raise SpecError(f"unknown criterion {a['id']!r}")
        statuses = a.get("is", ["met"])
        statuses = [statuses] if isinstance(statuses, str) else statuses
        valid = {s.value for s in Status}
        if not statuses or any(s not in valid for s in statuses):
            raise SpecError(f"'criterion' is must be statuses among {', '.join(sorted(valid))}")
        return CriterionIs(a["id"], frozenset(statuses))

    def _attested(self, args: object) -> Rule:
        if not isinstance(args, str) or args not in self.known_ids:
            raise SpecError(f"'attested' takes the id of a criterion of this policy; got {args!r}")
        return Attested(args)

    def _logic(self, kind: str, args: object) -> Rule:
        if not isinstance(args, list) or not args:
            raise SpecError(f"'{kind}' takes a non-empty list of rules")
        return Logic(kind, [self.compile(a) for a in args])

    def _all(self, args: object) -> Rule:
        return self._logic("all", args)

    def _any(self, args: object) -> Rule:
        return self._logic("any", args)

    def _not(self, args: object) -> Rule:
        return Logic("not", [self.compile(args)])
