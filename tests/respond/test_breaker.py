from __future__ import annotations

import pytest

from ripcord.respond.breaker import BreakerState, CircuitBreaker, RouteState


def breaker(state: BreakerState, share: float = 0.5) -> CircuitBreaker:
    return CircuitBreaker(RouteState("m", "v1", state), trial_share=share)


def test_closed_sends_everything_to_the_champion_and_open_nothing() -> None:
    assert all(breaker(BreakerState.CLOSED).use_champion() for _ in range(10))
    assert not any(breaker(BreakerState.OPEN).use_champion() for _ in range(10))


@pytest.mark.parametrize("share", [0.1, 0.25, 0.5, 1.0])
def test_half_open_lets_an_exact_share_through(share: float) -> None:
    cb = breaker(BreakerState.HALF_OPEN, share)
    assert sum(cb.use_champion() for _ in range(1000)) == round(1000 * share)


def test_consecutive_failures_trip_and_a_success_resets() -> None:
    cb = breaker(BreakerState.CLOSED)
    assert [cb.record_failure() for _ in range(4)] == [False] * 4
    cb.record_success()
    assert [cb.record_failure() for _ in range(5)] == [False] * 4 + [True]


def test_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="failure_threshold: 0"):
        CircuitBreaker(RouteState("m", None), failure_threshold=0)
    with pytest.raises(ValueError, match="trial_share: 1.5"):
        CircuitBreaker(RouteState("m", None), trial_share=1.5)
