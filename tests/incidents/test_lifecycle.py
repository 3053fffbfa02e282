"""The lifecycle table: `check` allows exactly the table's moves, and nothing escapes it."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ripcord.errors import TransitionError
from ripcord.incidents.lifecycle import ACTIVE, STAMPS, TRANSITIONS, Status, check

statuses = st.sampled_from(list(Status))


def allowed(current: Status, target: Status) -> bool:
    try:
        check(current, target)
    except TransitionError:
        return False
    return True


def test_the_table_covers_every_status_and_only_statuses() -> None:
    assert set(TRANSITIONS) == set(Status)
    for targets in TRANSITIONS.values():
        assert targets <= set(Status)
    assert set(STAMPS) == set(Status) - {Status.OPEN}
    assert set(ACTIVE) == set(Status) - {Status.RESOLVED, Status.REVIEWED}


def test_the_table_says_what_the_docs_say() -> None:
    S = Status
    assert TRANSITIONS[S.OPEN] == {S.ACKNOWLEDGED, S.CONTAINED, S.RECOVERING, S.RESOLVED}
    assert TRANSITIONS[S.ACKNOWLEDGED] == {S.CONTAINED, S.RECOVERING, S.RESOLVED}
    assert TRANSITIONS[S.CONTAINED] == {S.RECOVERING, S.RESOLVED}
    assert TRANSITIONS[S.RECOVERING] == {S.CONTAINED, S.RESOLVED}
    assert TRANSITIONS[S.RESOLVED] == {S.REVIEWED, S.OPEN}
    assert TRANSITIONS[S.REVIEWED] == frozenset()
    # no status may stay where it is (a "transition" that changes nothing is refused)
    assert all(s not in TRANSITIONS[s] for s in S)
    # nothing goes back to acknowledged once automation or a human moved on
    assert all(S.ACKNOWLEDGED not in TRANSITIONS[s] for s in S if s is not S.OPEN)


@given(current=statuses, target=statuses)
def test_check_raises_exactly_when_the_table_forbids(current: Status, target: Status) -> None:
    assert allowed(current, target) == (target in TRANSITIONS[current])


@given(current=statuses, target=statuses)
def test_the_error_names_both_statuses_and_the_allowed_ones(
    current: Status, target: Status
) -> None:
    if target in TRANSITIONS[current]:
        return
    with pytest.raises(TransitionError) as info:
        check(current, target)
    message = str(info.value)
    assert message.startswith(f"status: {current.value} -> {target.value} is not allowed")
    for status in TRANSITIONS[current]:
        assert status.value in message


def test_the_error_message_exactly() -> None:
    with pytest.raises(
        TransitionError,
        match=r"^status: contained -> acknowledged is not allowed "
        r"\(allowed: recovering, resolved\)$",
    ):
        check(Status.CONTAINED, Status.ACKNOWLEDGED)


@pytest.mark.parametrize("target", list(Status))
def test_reviewed_is_terminal(target: Status) -> None:
    with pytest.raises(TransitionError, match=r"^status: reviewed -> .*\(allowed: nothing\)$"):
        check(Status.REVIEWED, target)


@given(targets=st.lists(statuses, max_size=40))
def test_a_random_walk_from_open_stays_inside_the_table(targets: list[Status]) -> None:
    """Try arbitrary targets; only the moves `check` lets through are taken."""
    current, path = Status.OPEN, [Status.OPEN]
    for target in targets:
        if not allowed(current, target):
            assert target not in TRANSITIONS[current]
            continue
        assert target in TRANSITIONS[current]
        current = target
        path.append(current)
        if current is Status.REVIEWED:
            assert not any(allowed(current, s) for s in Status)
    assert all(b in TRANSITIONS[a] for a, b in itertools.pairwise(path))
    assert set(path) <= set(TRANSITIONS)
    assert Status.REVIEWED not in path[:-1]


@given(data=st.data())
def test_a_walk_over_allowed_moves_only_ends_at_reviewed(data: st.DataObject) -> None:
    current = Status.OPEN
    for _ in range(30):
        choices = sorted(TRANSITIONS[current])
        if not choices:
            assert current is Status.REVIEWED
            return
        target = data.draw(st.sampled_from(choices))
        check(current, target)  # never raises on a move the table lists
        current = target
    assert current in TRANSITIONS


def test_every_status_is_reachable_from_open() -> None:
    seen, frontier = {Status.OPEN}, [Status.OPEN]
    while frontier:
        for nxt in TRANSITIONS[frontier.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    assert seen == set(Status)
