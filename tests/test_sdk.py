from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from ripcord.app import Ripcord
from ripcord.errors import NotFoundError
from ripcord.events import Route
from ripcord.registry.base import Scored
from ripcord.respond.breaker import BreakerState
from ripcord.store.tables import EventRow

GOOD = {
    "income_k": 50.0,
    "debt_ratio": 0.2,
    "age": 40.0,
    "tenure_months": 12.0,
    "late_payments": 0.0,
    "utilization": 0.3,
}


def stored(rc: Ripcord) -> list[EventRow]:
    rc.flush()
    with rc.db.session() as session:
        return list(session.scalars(select(EventRow).order_by(EventRow.id)))


def test_a_wrapped_function_is_served_timed_and_recorded(rc: Ripcord) -> None:
    guard = rc.guard("credit-risk", predict=lambda f: (0, 0.91), version="fn-1")
    served = guard(GOOD, request_id="req-1", segment={"region": "eu"})
    assert (served.prediction, served.confidence, served.route) == (0, 0.91, Route.CHAMPION)
    assert served.version == "fn-1" and served.latency_ms >= 0
    [row] = stored(rc)
    assert (row.request_id, row.version, row.route) == ("req-1", "fn-1", "champion")
    assert row.payload["segment"] == {"region": "eu"} and row.payload["features"] == GOOD


def test_a_contract_break_is_blocked_and_answered_by_the_fallback(rc: Ripcord) -> None:
    calls: list[Any] = []
    guard = rc.guard("credit-risk", predict=lambda f: calls.append(f) or (0, 0.9))
    served = guard(GOOD | {"debt_ratio": 7.0})
    assert served.route is Route.BLOCKED and served.prediction == 1  # the SOP's fallback rule
    assert served.violations == ("debt_ratio: 7.0 is not <= 1",)
    assert calls == []  # the model never saw the bad input
    assert stored(rc)[0].payload["violations"] == ["debt_ratio: 7.0 is not <= 1"]


def test_exceptions_fall_back_and_trip_the_breaker(rc: Ripcord) -> None:
    def broken(features: Any) -> Scored:
        raise RuntimeError("feature store timeout")

    guard = rc.guard("credit-risk", predict=broken)
    results = [guard(GOOD) for _ in range(5)]
    assert all(
        r.prediction == 1 and r.error == "RuntimeError: feature store timeout" for r in results
    )
    assert rc.routes.state("credit-risk").breaker is BreakerState.OPEN
    assert guard(GOOD).route is Route.FALLBACK
    with rc.db.session() as session:  # the trip is stored, not only in memory
        rc.routes.load(session)
    assert rc.routes.state("credit-risk").breaker is BreakerState.OPEN


def test_the_kill_switch_serves_nothing(rc: Ripcord) -> None:
    guard = rc.guard("credit-risk", predict=lambda f: (0, 0.9))
    with rc.db.session() as session:
        rc.routes.apply(
            session,
            "credit-risk",
            at=rc.clock.now(),
            actor="oncall",
            reason="clinical review",
            killed=True,
        )
    served = guard(GOOD)
    assert served.route is Route.KILLED and served.prediction is None


def test_an_unknown_model_is_refused(rc: Ripcord) -> None:
    with pytest.raises(NotFoundError, match="unknown model: 'pricing'"):
        rc.guard("pricing", predict=lambda f: 1)
    with pytest.raises(NotFoundError):
        rc.deploy("pricing", "v1", actor="ci")
    assert stored(rc) == []


def test_without_a_deployed_version_traffic_goes_to_the_fallback(rc: Ripcord) -> None:
    served = rc.guard("credit-risk")(GOOD)
    assert served.route is Route.FALLBACK and served.prediction == 1


def test_a_bad_batch_stores_nothing_and_names_every_problem(rc: Ripcord) -> None:
    from ripcord.errors import EventError

    good = {
        "kind": "inference",
        "model": "credit-risk",
        "version": "v1",
        "request_id": "a",
        "timestamp": "2026-01-01T00:00:00Z",
        "latency_ms": 1.0,
    }
    batch = [good, good | {"model": "pricing"}, good | {"latency_ms": "slow"}]
    with pytest.raises(EventError) as info:
        rc.ingest_batch(batch)
    text = str(info.value)
    assert "events[2].latency_ms: 'slow'" in text
    assert stored(rc) == []
    with pytest.raises(
        EventError, match=r"events\[1\].model: 'pricing' is not a model in the SOP file"
    ):
        rc.ingest_batch(batch[:2])
    assert stored(rc) == []
    rc.ingest_batch([good])
    assert [r.request_id for r in stored(rc)] == ["a"]


def test_the_fallback_can_be_another_model(tmp_path: Any, clock: Any) -> None:
    import yaml

    from ripcord.drills import credit
    from tests.conftest import sop_data

    data = sop_data()
    small = dict(data["models"]["credit-risk"])
    small["detectors"] = []
    data["models"]["credit-risk-small"] = small
    data["models"]["credit-risk"]["fallback"] = {"model": "credit-risk-small"}
    credit.write_golden(tmp_path / "golden" / "credit-risk.csv", n=50)
    path = tmp_path / "sop.yaml"
    path.write_text(yaml.safe_dump(data))
    app = Ripcord.open(path, url=f"sqlite:///{tmp_path / 'f.db'}", home=tmp_path, clock=clock)
    try:
        app.register("credit-risk-small", "s1", credit.train(), actor="ci")
        app.deploy("credit-risk-small", "s1", actor="ci")
        app.trip("credit-risk", reason="test")
        served = app.guard("credit-risk", predict=lambda f: (0, 0.99))(GOOD)
        assert served.route is Route.FALLBACK
        assert (
            served.prediction in (0, 1)
            and served.confidence is not None
            and served.confidence < 0.99
        )
    finally:
        app.close()


def test_a_registry_down_at_load_time_is_answered_by_the_fallback(
    rc: Ripcord, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ripcord.drills import credit
    from ripcord.errors import RegistryError

    rc.register("credit-risk", "v1", credit.train(), actor="ci")
    rc.deploy("credit-risk", "v1", actor="ci")

    def down(row: Any) -> Any:
        raise RegistryError("mlflow://127.0.0.1:1", "load", "connection refused")

    monkeypatch.setattr(rc.registry, "load", down)
    served = rc.guard("credit-risk")(GOOD)
    assert served.prediction == 1 and served.error is not None  # the fallback rule answered
    assert "connection refused" in served.error


def test_a_batched_guard_records_on_the_call_that_fills_the_batch(rc: Ripcord) -> None:
    guard = rc.guard("credit-risk", predict=lambda f: (0, 0.91), version="fn-1")
    guard.batch = 4
    served = [guard(GOOD | {"age": 30.0 + i}, request_id=f"r{i}") for i in range(10)]
    assert [r.request_id for r in stored(rc)] == [f"r{i}" for i in range(8)]  # two batches
    guard.flush()
    rows = stored(rc)
    assert [r.request_id for r in rows] == [s.request_id for s in served]  # in call order
    assert [r.payload["features"]["age"] for r in rows] == [30.0 + i for i in range(10)]
    assert all(r.payload["latency_ms"] == s.latency_ms for r, s in zip(rows, served, strict=True))


def test_a_batched_record_waits_at_most_batch_s_of_the_app_clock(rc: Ripcord, clock: Any) -> None:
    with rc.guard("credit-risk", predict=lambda f: (0, 0.9)) as guard:
        guard.batch = 100
        guard(GOOD, request_id="old")
        clock.advance(0.01)
        guard(GOOD, request_id="young")
        assert stored(rc) == []
        clock.advance(0.05)
        guard(GOOD, request_id="late")  # the oldest is 60 ms old: the batch goes in
        assert [r.request_id for r in stored(rc)] == ["old", "young", "late"]
        guard(GOOD, request_id="kept")
    assert stored(rc)[-1].request_id == "kept"  # leaving the block flushed it


def test_a_batched_guard_trips_the_breaker_on_the_call_that_saw_the_last_error(
    rc: Ripcord,
) -> None:
    def broken(features: Any) -> Scored:
        raise RuntimeError("feature store timeout")

    guard = rc.guard("credit-risk", predict=broken)
    guard.batch = 1000
    [guard(GOOD) for _ in range(5)]
    assert rc.routes.state("credit-risk").breaker is BreakerState.OPEN
    assert guard(GOOD).route is Route.FALLBACK


def test_a_record_the_schema_refuses_costs_its_batch_nothing(rc: Ripcord) -> None:
    guard = rc.guard("credit-risk", predict=lambda f: f["answer"])
    guard.batch = 3
    guard(GOOD | {"answer": 0}, request_id="a")
    guard(GOOD | {"answer": [0, 1]}, request_id="b")  # a list is not a prediction
    guard(GOOD | {"answer": 1}, request_id="c")
    assert [r.request_id for r in stored(rc)] == ["a", "c"] and guard.rejected == 1


@pytest.mark.parametrize(("field", "value"), [("batch", 0), ("batch", 2.5), ("batch_s", 0.0)])
def test_batch_settings_are_checked(rc: Ripcord, field: str, value: float) -> None:
    from ripcord.sdk import Guard

    with pytest.raises(ValueError, match=f"{field}: {value!r}"):
        Guard(rc, "credit-risk", predict=lambda f: 1, **{field: value})


def test_the_runtime_drains_the_batching_guards_it_made(rc: Ripcord) -> None:
    guard = rc.guard("credit-risk", predict=lambda f: (0, 0.9), batch=100)
    for i in range(3):
        guard(GOOD, request_id=f"r{i}")
    assert [r.request_id for r in stored(rc)] == ["r0", "r1", "r2"]  # `stored` calls flush


def test_a_label_joins_its_prediction_still_held_by_a_batching_guard(rc: Ripcord) -> None:
    guard = rc.guard("credit-risk", predict=lambda f: (0, 0.9), batch=100)
    guard(GOOD, request_id="held")
    rc.label("credit-risk", "held", 0)  # the guard's buffer is stored and detected first
    assert [(r.kind, r.request_id) for r in stored(rc)] == [
        ("inference", "held"),
        ("label", "held"),
    ]


def test_closing_the_runtime_stores_what_a_batching_guard_held(rc: Ripcord) -> None:
    guard = rc.guard("credit-risk", predict=lambda f: (0, 0.9), batch=100)
    guard(GOOD, request_id="last")
    rc.close()
    with rc.db.session() as session:
        assert [r.request_id for r in session.scalars(select(EventRow))] == ["last"]


#: an LLM support bot's SOP entry: its replies must never promise a discount
SUPPORT = "support-bot"
NO_DISCOUNTS = {
    "name": "no-discount-promises",
    "on": "output",
    "pattern": r"(?i)\b(\d+ ?%|percent) (off|discount)",
    "action": "block",
}


@pytest.fixture
def support(tmp_path: Any, clock: Any) -> Any:
    import yaml

    from ripcord.drills import credit
    from tests.conftest import sop_data

    data = sop_data()
    data["models"][SUPPORT] = {
        "owner": "ml-credit",
        "fallback": {"rule": {"prediction": "A colleague will follow up on pricing."}},
        "guardrails": [
            NO_DISCOUNTS,
            {
                "name": "no-refunds",
                "on": "output",
                "pattern": r"(?i)full refund",
                "action": "replace",
                "replacement": "Refunds are handled by our billing team.",
            },
        ],
    }
    credit.write_golden(tmp_path / "golden" / "credit-risk.csv", n=50)
    path = tmp_path / "sop.yaml"
    path.write_text(yaml.safe_dump(data))
    app = Ripcord.open(path, url=f"sqlite:///{tmp_path / 's.db'}", home=tmp_path, clock=clock)
    yield app
    app.close()


def test_an_llm_reply_promising_a_discount_never_reaches_the_customer(support: Ripcord) -> None:
    replies = {
        "q1": "Your order ships tomorrow.",
        "q2": "Good news: I can give you 20% off your next order!",
        "q3": "Sure, you will get a full refund today.",
    }
    guard = support.guard(SUPPORT, predict=lambda f: replies[f["message"]], version="llm-1")
    calm, promise, refund = (guard({"message": q}, request_id=q) for q in replies)
    assert (calm.route, calm.prediction) == (Route.CHAMPION, replies["q1"])
    assert (promise.route, promise.prediction) == (
        Route.GUARDED,
        "A colleague will follow up on pricing.",  # blocked: the SOP's fallback answers
    )
    assert promise.violations == ("guardrail:no-discount-promises: matched '20% off'",)
    assert (refund.route, refund.prediction) == (
        Route.GUARDED,
        "Refunds are handled by our billing team.",  # replaced
    )
    rows = {row.request_id: row for row in stored(support)}
    assert rows["q2"].route == "guarded"
    assert rows["q2"].payload["prediction"] == "A colleague will follow up on pricing."
    assert rows["q2"].payload["violations"] == list(promise.violations)
    assert all("20% off" not in str(row.payload["prediction"]) for row in rows.values())
