"""Schemathesis over the OpenAPI document: no generated request gets a 5xx.

One app for the module (a runtime on real SQLite with an incident, a rollback held for
approval and an admin token), driven in-process through ASGI; each operation is a subtest
with its own bounded Hypothesis run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
import yaml
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok

from ripcord import access
from ripcord.access import Role
from ripcord.api import create_app
from ripcord.app import Ripcord
from ripcord.clock import ManualClock
from ripcord.drills import credit
from ripcord.notify import RecordingChannel
from tests.api.conftest import good_v1, raise_signal
from tests.conftest import sop_data

ADMIN = "schemathesis-admin"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, str]]:
    home = tmp_path_factory.mktemp("schema")
    credit.write_golden(home / "golden" / "credit-risk.csv", n=300)
    sop = home / "sop.yaml"
    sop.write_text(yaml.safe_dump(sop_data()))
    rc = Ripcord.open(
        sop,
        url=f"sqlite:///{home / 'rc.db'}",
        home=home,
        clock=ManualClock(),
        channels={"console": RecordingChannel(name="console")},
    )
    app = create_app(rc)
    good_v1(rc)
    raise_signal(app, "confidence", 0.5, 0.78)  # incident 1, rollback action 1 held
    with rc.db.session() as session:
        _, token = access.create(session, ADMIN, Role.ADMIN, at=rc.clock.now(), actor="test")
    yield app, token
    rc.close()


def test_no_generated_request_is_a_server_error(
    seeded: tuple[FastAPI, str], subtests: pytest.Subtests
) -> None:
    app, token = seeded
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {token}"}
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        operations.append(result.ok())
    assert len(operations) >= 15
    for operation in operations:
        with subtests.test(msg=operation.label):

            @given(case=operation.as_strategy())
            @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
            def run(case: schemathesis.Case[Any]) -> None:
                case.call_and_validate(headers=headers, checks=[not_a_server_error])

            run()


def test_the_schema_documents_the_event_kinds(seeded: tuple[FastAPI, str]) -> None:
    document = seeded[0].openapi()
    components = document["components"]["schemas"]
    assert {"InferenceEvent", "LabelEvent", "FeedbackEvent", "ChangeEvent"} <= set(components)
    item = components["EventBatch"]["properties"]["events"]["items"]
    assert item["discriminator"]["propertyName"] == "kind"
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
