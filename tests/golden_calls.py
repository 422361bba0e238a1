"""How the policy tests call each golden patient: hook, evaluation time, policy and discharged encounter."""

from __future__ import annotations

# (hook, evaluation time, policy, discharged encounter) as in tests/policies/<key>/test_policy_<key>.py.
GOLDEN_CALLS: dict[str, tuple[str, str, str, str | None]] = {
    "P1": ("order-sign", "2025-03-03T10:00:00-06:00", "medica", None),
    "P2": ("order-sign", "2025-03-03T14:00:00-06:00", "medica", None),
    "P9a": ("order-sign", "2025-03-31T10:00:00-05:00", "medica", None),
    "P9b": ("order-sign", "2025-04-21T10:00:00-05:00", "medica", None),
    "P10": ("order-sign", "2025-03-03T16:00:00-06:00", "medica", None),
    "P3": ("order-sign", "2025-03-03T09:30:00-05:00", "optum-locg", None),
    "P4": ("encounter-discharge", "2025-02-28T12:05:00-05:00", "optum-locg", "P4-prog"),
    "P5": ("encounter-discharge", "2025-03-21T12:10:00-04:00", "molina", "P5-prog"),
    "P6": ("encounter-discharge", "2025-04-25T16:05:00-04:00", "cca", "P6-prog"),
    "P7": ("order-sign", "2025-05-02T11:00:00-05:00", "bh803", None),
    "P8": ("order-sign", "2025-03-10T09:00:00-07:00", "bh803", None),
}
