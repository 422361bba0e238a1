"""Truth tables and monotonicity of the three-valued group combination."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cds_service.engine.outcome import Status, all_of, any_of, combine, n_of

M, N, U, NA, P = Status.MET, Status.NOT_MET, Status.UNKNOWN, Status.NOT_APPLICABLE, Status.PENDING


@pytest.mark.parametrize(
    ("children", "expected"),
    [
        ([M, M], M),
        ([M, U], U),
        ([M, N], N),
        ([U, N], N),
        ([U, U], U),
        ([N, N], N),
        ([M, NA], M),
        # issue 15: never met while a member is pending, and all pending is pending (it read "not applicable")
        ([M, P], P),
        ([NA, P], P),
        ([P, P], P),
        ([U, P], U),
        ([], NA),
        ([N, P, NA], N),
    ],
)
def test_all_of_truth_table(children, expected):
    assert all_of(children) == expected


@pytest.mark.parametrize(
    ("children", "expected"),
    [
        ([M, M], M),
        ([M, U], M),
        ([M, N], M),
        ([U, N], U),
        ([U, U], U),
        ([N, N], N),
        ([N, NA], N),
        ([U, P], U),
        ([N, P], P),
        ([M, P], M),
        ([NA], NA),
        ([], NA),
    ],
)
def test_any_of_truth_table(children, expected):
    assert any_of(children) == expected


@pytest.mark.parametrize(
    ("children", "n", "expected"),
    [
        ([M, M, N], 2, M),
        ([M, U, N], 2, U),
        ([M, N, N], 2, N),
        ([U, U, U], 3, U),
        ([U, U, N], 3, N),
        ([M, NA, P], 1, M),
        ([M, P, N], 2, P),
        ([M, P, U], 2, U),
        ([P, P], 1, P),
        ([NA, NA], 1, NA),
    ],
)
def test_n_of_counts_met_and_possible(children, n, expected):
    assert n_of(children, n) == expected


def test_combine_rejects_unknown_kind():
    with pytest.raises(ValueError, match="unknown group kind"):
        combine("some-of", [M])


_ORDER = {N: 0, U: 1, M: 2}
statuses = st.lists(st.sampled_from([M, N, U, NA, P]), min_size=1, max_size=8)


@given(statuses, st.data())
def test_resolving_an_unknown_never_flips_a_decided_group(children, data):
    """Turning one unknown into met (or not-met) moves a group only towards that value, never across."""
    unknowns = [i for i, c in enumerate(children) if c == U]
    if not unknowns:
        return
    i = data.draw(st.sampled_from(unknowns))
    n = data.draw(st.integers(min_value=1, max_value=len(children)))
    for kind in ("all-of", "any-of", "n-of"):
        before = combine(kind, children, n)
        for resolved in (M, N):
            after = combine(kind, [resolved if j == i else c for j, c in enumerate(children)], n)
            if before in (M, N):
                assert after == before, (kind, children, resolved)
            elif before == U and after in _ORDER:
                # From unknown a group may only move in the direction of the resolved child.
                assert after in (U, resolved), (kind, children, resolved)


def test_every_combination_of_two_children_is_decided_consistently():
    for a, b in itertools.product([M, N, U], repeat=2):
        assert all_of([a, b]) == all_of([b, a])
        assert any_of([a, b]) == any_of([b, a])
        # De Morgan: not(all-of) == any-of(not) with not swapping met/not-met
        flip = {M: N, N: M, U: U}
        assert flip[all_of([a, b])] == any_of([flip[a], flip[b]])
