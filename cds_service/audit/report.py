"""The report people read: one self-contained HTML file (inline SVG from matplotlib, no script, no CDN).

Rates are shares of evaluated targets: for each policy, phase and criterion, the episodes (or orders) whose
criterion was met, not met or undocumented (``unknown``), over all targets in which the criterion was evaluated.
"""

from __future__ import annotations

import html
import io
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cds_service.audit.source import Problem

REPORT_FILE = "report.html"
SUMMARY_FILE = "summary.json"
SHOWN = ("met", "not-met", "unknown")
LABEL = {"met": "met", "not-met": "not met", "unknown": "undocumented"}
COLOURS = {"met": "#4c9a5f", "not-met": "#c8553d", "unknown": "#d9a441", "other": "#b8b8b8"}


@dataclass(frozen=True)
class CriterionRate:
    """How one criterion of one policy and phase came out across the population."""

    policy: str
    phase: str
    criterion: str
    total: int
    counts: dict[str, int]

    def share(self, status: str) -> float:
        """The share of targets with this status (0 when none was evaluated)."""
        return self.counts.get(status, 0) / self.total if self.total else 0.0


def criterion_rates(rows: list[dict[str, Any]]) -> list[CriterionRate]:
    """Per policy, phase and criterion: status counts over the targets, worst (most not met) first."""
    counts: dict[tuple[str, str, str], Counter[str]] = defaultdict(Counter)
    for row in rows:
        counts[(row["policy"], row["phase"], row["criterion"])][row["status"]] += 1
    rates = [CriterionRate(p, ph, c, sum(n.values()), dict(n)) for (p, ph, c), n in counts.items()]
    return sorted(rates, key=lambda r: (r.policy, r.phase, -r.share("not-met"), -r.share("unknown"), r.criterion))


def _svg(figure: Any) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _bars(rates: list[CriterionRate], title: str) -> str:
    import matplotlib.pyplot as plt

    height = max(2.0, 0.24 * len(rates) + 1.0)
    figure, axis = plt.subplots(figsize=(9, height))
    names = [r.criterion for r in rates][::-1]
    left = [0.0] * len(rates)
    for status in (*SHOWN, "other"):
        if status == "other":
            values = [1 - sum(r.share(s) for s in SHOWN) if r.total else 0 for r in rates][::-1]
        else:
            values = [r.share(status) for r in rates][::-1]
        axis.barh(names, values, left=left, color=COLOURS[status], label=LABEL.get(status, "pending / n.a."))
        left = [a + b for a, b in zip(left, values, strict=True)]
    axis.set_xlim(0, 1)
    axis.xaxis.set_major_formatter(lambda x, _: f"{x:.0%}")
    axis.set_title(title, loc="left", fontsize=10)
    axis.tick_params(axis="y", labelsize=7)
    axis.legend(ncols=4, fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.02 + 0.3 / height))
    return _svg(figure)


def _trend(rows: list[dict[str, Any]]) -> str | None:
    import matplotlib.pyplot as plt

    by_month: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for row in rows:
        if row["kind"] == "episode" and row["discharge"]:
            by_month[row["policy"]][row["discharge"][:7]][row["status"] == "not-met"] += 1
    if not by_month:
        return None
    figure, axis = plt.subplots(figsize=(9, 3))
    for policy, months in sorted(by_month.items()):
        keys = sorted(months)
        axis.plot(keys, [months[k][True] / sum(months[k].values()) for k in keys], marker="o", label=policy)
    axis.yaxis.set_major_formatter(lambda y, _: f"{y:.0%}")
    axis.set_ylabel("criteria not met", fontsize=8)
    axis.set_title("Not met by month of discharge (share of criterion results)", loc="left", fontsize=10)
    axis.legend(fontsize=7)
    return _svg(figure)


def _histogram(targets: list[dict[str, Any]]) -> str | None:
    import matplotlib.pyplot as plt

    days = [t["aftercare_days"] for t in targets if t["kind"] == "episode" and t["aftercare_days"] is not None]
    if not days:
        return None
    figure, axis = plt.subplots(figsize=(9, 3))
    axis.hist(days, bins=range(0, max(days) + 2), color="#5b7db1", edgecolor="white", align="left")
    axis.axvline(7.5, color="#c8553d", linestyle="--", linewidth=1)
    axis.set_xlabel("days from discharge to the first aftercare visit or appointment", fontsize=8)
    axis.set_ylabel("episodes", fontsize=8)
    axis.set_title("Days to first aftercare", loc="left", fontsize=10)
    return _svg(figure)


def _table(head: list[str], body: list[list[str]]) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    rows = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in body)
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{rows}</tbody></table>"


def _pct(value: float) -> str:
    return f"{value:.1%}"


STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:72rem;color:#222}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.8rem;margin:.5rem 0}
td,th{border:1px solid #ddd;padding:.2rem .4rem;text-align:left}
.note{color:#555;font-size:.85rem}svg{max-width:100%;height:auto}
"""


def render_report(
    rows: list[dict[str, Any]], targets: list[dict[str, Any]], problems: list[Problem], meta: dict[str, Any]
) -> str:
    """The HTML report: rates per criterion, trend, most failed criteria, aftercare histogram, data gaps."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: smaller, searchable
    matplotlib.rcParams["svg.hashsalt"] = "iop-cds"  # stable ids: the same data gives the same file
    rates = criterion_rates(rows)
    parts = [
        f"<h1>IOP population audit</h1><p class='note'>{html.escape(meta.get('input', ''))} · evaluated "
        f"{meta.get('episodes', 0)} episodes at discharge and {meta.get('orders', 0)} orders as authored, of "
        f"{meta.get('patients', 0)} patients · as of {html.escape(str(meta.get('as_of', '')))} · "
        f"{len(problems)} pieces of bad input set aside.</p>",
        "<p class='note'>Shares are of the episodes (or orders) in which a criterion was evaluated. "
        "<em>Undocumented</em> is the engine's <code>unknown</code>: nothing in the structured record settles "
        "the criterion (often a clinical judgement that needs an attestation).</p>",
    ]
    by_policy: dict[tuple[str, str], list[CriterionRate]] = defaultdict(list)
    for rate in rates:
        by_policy[(rate.policy, rate.phase)].append(rate)
    parts.append("<h2>Criteria per policy</h2>")
    for (policy, phase), group in sorted(by_policy.items()):
        total = max(r.total for r in group)
        parts.append(f"<h3 id='{html.escape(policy)}-{html.escape(phase)}'>{html.escape(policy)} · {phase}</h3>")
        parts.append(_bars(group, f"{policy} · {phase} · {total} evaluations, sorted by share not met"))
        parts.append(
            _table(
                ["criterion", "evaluated", "met", "not met", "undocumented", "pending / n.a."],
                [
                    [
                        html.escape(r.criterion),
                        str(r.total),
                        _pct(r.share("met")),
                        _pct(r.share("not-met")),
                        _pct(r.share("unknown")),
                        _pct(r.share("pending") + r.share("not-applicable")),
                    ]
                    for r in group
                ],
            )
        )
    trend = _trend(rows)
    parts.append("<h2>Not met by month of discharge</h2>")
    parts.append(trend or "<p>No discharged episode.</p>")
    parts.append("<h2>The ten most failed criteria</h2>")
    failed: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in rows:
        if row["status"] == "not-met":
            failed[(row["policy"], row["criterion"])].append(f"{row['patient']} / {row['episode']}")
    top = sorted(failed.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:10]
    parts.append(
        _table(
            ["policy", "criterion", "not met", "example episodes (patient / episode)"],
            [
                [html.escape(p), html.escape(c), str(len(ex)), html.escape(", ".join(sorted(set(ex))[:3]))]
                for (p, c), ex in top
            ],
        )
        if top
        else "<p>No criterion was found not met.</p>"
    )
    parts.append("<h2>Days from discharge to first aftercare</h2>")
    parts.append(_histogram(targets) or "<p>No discharged episode with a later visit or appointment.</p>")
    parts.append("<h2>Data gaps</h2>")
    open_count = sum(1 for t in targets if t.get("open"))
    no_aftercare = sum(
        1 for t in targets if t["kind"] == "episode" and not t.get("open") and t["aftercare_days"] is None
    )
    parts.append(
        f"<p>{open_count} episodes still open (evaluated as of the audit time); {no_aftercare} discharged episodes "
        "with no later visit or appointment in the record.</p>"
    )
    reasons = Counter(p.reason.split(" (")[0].split(" Encounter/")[0] for p in problems)
    if problems:
        parts.append(_table(["bad input", "count"], [[html.escape(r), str(n)] for r, n in reasons.most_common()]))
        parts.append(
            _table(
                ["file", "line", "reason"],
                [[html.escape(p.file), str(p.line or "—"), html.escape(p.reason)] for p in problems[:500]],
            )
        )
        if len(problems) > 500:
            parts.append(f"<p class='note'>… and {len(problems) - 500} more in bad_input.parquet.</p>")
    else:
        parts.append("<p>No bad input.</p>")
    undocumented = sorted((r for r in rates if r.counts.get("unknown")), key=lambda r: -r.share("unknown"))[:10]
    if undocumented:
        parts.append("<h3>Most often undocumented</h3>")
        parts.append(
            _table(
                ["policy · phase", "criterion", "undocumented"],
                [[f"{r.policy} · {r.phase}", html.escape(r.criterion), _pct(r.share("unknown"))] for r in undocumented],
            )
        )
    body = "\n".join(parts)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>IOP population audit</title>"
        f"<style>{STYLE}</style></head><body>{body}</body></html>\n"
    )


def rates_json(rates: list[CriterionRate]) -> list[dict[str, Any]]:
    """The rates as plain data (``summary.json``)."""
    return [
        {
            "policy": r.policy,
            "phase": r.phase,
            "criterion": r.criterion,
            "evaluated": r.total,
            **{
                status: r.counts.get(status, 0) for status in ("met", "not-met", "unknown", "pending", "not-applicable")
            },
            "share": {LABEL[s]: r.share(s) for s in SHOWN},
        }
        for r in rates
    ]


def write_report(
    out: Path, rows: list[dict[str, Any]], targets: list[dict[str, Any]], problems: list[Problem], meta: dict[str, Any]
) -> Path:
    """Write ``report.html`` and ``summary.json`` (the same rates as data); returns the report's path."""
    path = out / REPORT_FILE
    path.write_text(render_report(rows, targets, problems, meta), encoding="utf-8")
    summary = {**meta, "rates": rates_json(criterion_rates(rows)), "bad_input": len(problems)}
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return path
