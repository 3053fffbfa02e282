"""The audit log: every appended chain verifies, and every edit or deletion is caught."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from ripcord.cli import main
from ripcord.errors import AuditError
from ripcord.store import audit
from ripcord.store.db import ENV_URL, Database
from ripcord.store.tables import AuditRow

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def fill(db: Database, n: int) -> list[str]:
    """Append n rows (in separate transactions, as the runtime does); return their hashes."""
    hashes = []
    for i in range(n):
        with db.session() as session:
            row = audit.append(
                session,
                at=T0 + timedelta(minutes=i),
                actor=f"actor-{i}",
                action="incident.contained",
                subject=f"incident:{i}",
                reason=f"reason {i}",
                before={"status": "open", "n": i},
                after={"status": "contained", "n": i, "nested": {"values": [i, i + 0.5]}},
            )
            hashes.append(row.hash)
    return hashes


def run_sql(db: Database, sql: str, **params: Any) -> int:
    with db.engine.begin() as connection:
        return connection.execute(text(sql), params).rowcount


def verify(db: Database) -> audit.Verification:
    with db.session() as session:
        return audit.verify(session)


def test_an_empty_log_verifies_with_the_genesis_head(db: Database) -> None:
    assert verify(db) == audit.Verification(rows=0, head=audit.GENESIS)


def test_appended_rows_verify_and_chain_to_each_other(db: Database) -> None:
    hashes = fill(db, 5)
    result = verify(db)
    assert result.rows == 5
    assert result.head == hashes[-1]
    assert len(set(hashes)) == 5
    with db.session() as session:
        rows = session.scalars(select(AuditRow).order_by(AuditRow.id)).all()
    assert [r.id for r in rows] == [1, 2, 3, 4, 5]
    assert [r.prev_hash for r in rows] == [audit.GENESIS, *hashes[:-1]]
    assert rows[2].at == T0 + timedelta(minutes=2)
    assert rows[2].at.tzinfo is UTC


def test_rows_appended_in_one_transaction_chain_too(db: Database) -> None:
    with db.session() as session:
        first = audit.append(session, at=T0, actor="a", action="x", subject="s")
        second = audit.append(session, at=T0, actor="a", action="x", subject="s")
        assert (first.id, second.id) == (1, 2)
        assert second.prev_hash == first.hash
        assert audit.verify(session).rows == 2
    assert verify(db).head == second.hash


def test_a_rolled_back_append_leaves_no_gap(db: Database) -> None:
    fill(db, 2)
    with pytest.raises(RuntimeError), db.session() as session:
        audit.append(session, at=T0, actor="a", action="x", subject="s")
        raise RuntimeError("the caller's transaction failed")
    fill(db, 1)
    assert verify(db).rows == 3


EDITS = [
    ("at", "'2026-01-01 00:02:00.000001'"),
    ("actor", "'mallory'"),
    ("action", "'incident.resolved'"),
    ("subject", "'incident:99'"),
    ("reason", "'nothing to see'"),
    ("before", "NULL"),
    ("after", """'{"status": "resolved"}'"""),
    ("hash", "'" + "f" * 64 + "'"),
]


@pytest.mark.parametrize(("column", "value"), EDITS, ids=[c for c, _ in EDITS])
def test_editing_any_field_is_caught_at_that_row(db: Database, column: str, value: str) -> None:
    fill(db, 5)
    assert run_sql(db, f"UPDATE audit SET {column} = {value} WHERE id = 3") == 1
    with pytest.raises(
        AuditError, match=r"^audit row 3: content does not match its hash \(edited\)$"
    ):
        verify(db)


def test_an_edit_inside_the_json_is_caught(db: Database) -> None:
    fill(db, 3)
    with db.engine.connect() as connection:
        stored = connection.execute(text("SELECT after FROM audit WHERE id = 2")).scalar_one()
    edited = stored.replace("1.5", "1.25")
    assert edited != stored
    assert json.loads(edited)["nested"] == {"values": [1, 1.25]}
    run_sql(db, "UPDATE audit SET after = :after WHERE id = 2", after=edited)
    with pytest.raises(AuditError, match=r"audit row 2: .*\(edited\)"):
        verify(db)


def test_reformatting_the_json_without_changing_it_is_not_an_edit(db: Database) -> None:
    # The hash covers the JSON values, not their spelling: key order and spaces are free.
    fill(db, 3)
    with db.engine.connect() as connection:
        stored = connection.execute(text("SELECT after FROM audit WHERE id = 2")).scalar_one()
    reordered = json.dumps(dict(reversed(list(json.loads(stored).items()))), indent=4)
    assert reordered != stored
    run_sql(db, "UPDATE audit SET after = :after WHERE id = 2", after=reordered)
    assert verify(db).rows == 3


def test_deleting_a_middle_row_is_reported_as_missing(db: Database) -> None:
    fill(db, 5)
    assert run_sql(db, "DELETE FROM audit WHERE id = 3") == 1
    with pytest.raises(AuditError, match=r"^audit row 3 is missing \(next row is 4\)$"):
        verify(db)


def test_renumbering_a_row_is_reported_as_missing(db: Database) -> None:
    fill(db, 3)
    run_sql(db, "UPDATE audit SET id = 7 WHERE id = 2")
    with pytest.raises(AuditError, match=r"audit row 2 is missing \(next row is 3\)"):
        verify(db)


def test_changing_prev_hash_is_caught(db: Database) -> None:
    fill(db, 4)
    run_sql(db, "UPDATE audit SET prev_hash = :h WHERE id = 3", h="0" * 64)
    with pytest.raises(AuditError, match=r"^audit row 3: prev_hash does not match row 2$"):
        verify(db)


def test_rewriting_a_row_and_its_hash_still_breaks_the_next_row(db: Database) -> None:
    # A forger who recomputes row 2's hash must also rewrite every later row.
    fill(db, 4)
    with db.session() as session:
        row = session.get(AuditRow, 2)
        assert row is not None
        forged = audit._row_digest(row, row.prev_hash)  # same content: same hash
        assert forged == row.hash
    run_sql(db, "UPDATE audit SET actor = 'mallory' WHERE id = 2")
    with db.session() as session:
        row = session.get(AuditRow, 2)
        assert row is not None
        new_hash = audit._row_digest(row, row.prev_hash)
    run_sql(db, "UPDATE audit SET hash = :h WHERE id = 2", h=new_hash)
    with pytest.raises(AuditError, match=r"^audit row 3: prev_hash does not match row 2$"):
        verify(db)


def test_numpy_scalars_are_stored_as_plain_json(db: Database) -> None:
    with db.session() as session:
        audit.append(
            session,
            at=T0,
            actor="ripcord",
            action="detector.reading",
            subject="model:m",
            before={"count": np.int64(7), "rate": np.float32(0.25), "flag": np.bool_(True)},
            after={"mean": np.float64(1.5), "nested": {"n": np.int32(3)}},
        )
    with db.engine.connect() as connection:
        raw_before, raw_after = connection.execute(
            text("SELECT before, after FROM audit WHERE id = 1")
        ).one()
    assert json.loads(raw_before) == {"count": 7, "rate": 0.25, "flag": True}
    assert json.loads(raw_after) == {"mean": 1.5, "nested": {"n": 3}}
    with db.session() as session:
        row = session.get(AuditRow, 1)
        assert row is not None and row.before is not None
        assert type(row.before["count"]) is int
        assert type(row.before["rate"]) is float
        assert type(row.before["flag"]) is bool
    assert verify(db).rows == 1


def test_plain_turns_odd_values_into_json(db: Database) -> None:
    odd: dict[Any, Any] = {"at": T0, "n": np.int64(2), 3: "x"}
    assert audit.plain(odd) == {
        "at": "2026-01-01 00:00:00+00:00",
        "n": 2,
        "3": "x",
    }


def test_a_naive_append_time_is_taken_as_utc(db: Database) -> None:
    with db.session() as session:
        row = audit.append(session, at=datetime(2026, 1, 1, 5), actor="a", action="x", subject="s")
        assert row.at == datetime(2026, 1, 1, 5, tzinfo=UTC)
    assert verify(db).rows == 1


# --- the CLI ---------------------------------------------------------------------------


@pytest.fixture
def env_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv(ENV_URL, url)
    database = Database.open(url)
    yield database
    database.dispose()


def test_cli_verify_exits_0_on_a_clean_chain(
    env_db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    hashes = fill(env_db, 3)
    assert main(["audit", "verify"]) == 0
    out = capsys.readouterr().out
    assert "audit chain verified: 3 rows" in out
    assert hashes[-1] in out


def test_cli_verify_exits_1_after_tampering_and_says_why(
    env_db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(env_db, 3)
    run_sql(env_db, "UPDATE audit SET reason = 'covered up' WHERE id = 2")
    assert main(["audit", "verify"]) == 1
    out = capsys.readouterr().out
    assert "error: audit row 2: content does not match its hash (edited)" in out
    assert "verified" not in out


def test_cli_verify_reports_a_deleted_row(
    env_db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(env_db, 3)
    run_sql(env_db, "DELETE FROM audit WHERE id = 2")
    assert main(["audit", "verify"]) == 1
    assert "audit row 2 is missing (next row is 3)" in capsys.readouterr().out


# --- properties ------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
documents = st.none() | st.dictionaries(st.text(max_size=8), json_values, max_size=4)
names = st.text(st.characters(codec="utf-8"), max_size=30)
entries = st.fixed_dictionaries(
    {
        "at": st.datetimes(
            min_value=datetime(2000, 1, 1),
            max_value=datetime(2100, 1, 1),
            timezones=st.timezones(),
        ),
        "actor": names,
        "action": names,
        "subject": names,
        "reason": names,
        "before": documents,
        "after": documents,
    }
)


@pytest.fixture(scope="module")
def shared_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    # One database for every example (function-scoped fixtures do not reset between them).
    database = Database.open(f"sqlite:///{tmp_path_factory.mktemp('audit') / 'prop.db'}")
    yield database
    database.dispose()


def reset(db: Database, logs: list[dict[str, Any]]) -> None:
    run_sql(db, "DELETE FROM audit")
    for entry in logs:
        with db.session() as session:
            audit.append(session, **entry)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs=st.lists(entries, min_size=1, max_size=6), data=st.data())
def test_any_appended_log_verifies_and_any_single_edit_is_caught(
    shared_db: Database, logs: list[dict[str, Any]], data: st.DataObject
) -> None:
    reset(shared_db, logs)
    head = verify(shared_db)
    assert head.rows == len(logs)

    target = data.draw(st.integers(1, len(logs)), label="row")
    column = data.draw(
        st.sampled_from(["at", "actor", "action", "subject", "reason", "before", "after"]),
        label="column",
    )
    with shared_db.session() as session:
        row = session.get(AuditRow, target)
        assert row is not None
        old = getattr(row, column)
    if column == "at":
        new: Any = (old + timedelta(microseconds=1)).strftime("%Y-%m-%d %H:%M:%S.%f")
    elif column in ("before", "after"):
        new = json.dumps({"tampered": old})
    else:
        new = old + "!"
    run_sql(shared_db, f"UPDATE audit SET {column} = :v WHERE id = :id", v=new, id=target)
    with pytest.raises(AuditError, match=rf"^audit row {target}: .*\(edited\)$"):
        verify(shared_db)
