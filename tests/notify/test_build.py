"""Channels from the SOP file: the schema per channel type, secrets read from the
environment at build time, and the notification checks `sop validate` runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from ripcord.detect import default_registry
from ripcord.errors import InputError, SopError
from ripcord.notify import (
    EmailChannel,
    Notification,
    Notifier,
    PagerDutyChannel,
    SlackChannel,
    WebhookChannel,
    build_channels,
    sign,
)
from ripcord.sop import load
from ripcord.sop.channels import ChannelSpec
from ripcord.sop.schema import Sop
from tests.conftest import sop_data
from tests.notify.conftest import Mailbox

ENV = {
    "SLACK_URL": "",  # replaced per test with the receiver's url
    "PD_KEY": "R0UT1NGKEY",
    "HOOK_SECRET": "hook-s3cret",
    "SMTP_PASSWORD": "hunter2",
}


def specs(data: dict[str, Any]) -> dict[str, ChannelSpec]:
    return {name: ChannelSpec.model_validate(spec) for name, spec in data.items()}


def test_every_channel_type_builds_from_the_sop(
    receiver, smtp_server: Mailbox, message: Notification
) -> None:
    data = {
        "slack": {"type": "slack", "url_env": "SLACK_URL", "retries": 1},
        "pager": {"type": "pagerduty", "routing_key_env": "PD_KEY", "url": receiver.url},
        "hook": {"type": "webhook", "url": receiver.url, "secret_env": "HOOK_SECRET"},
        "mail": {
            "type": "email",
            "host": smtp_server.host,
            "port": smtp_server.port,
            "sender": "ripcord@example.org",
        },
    }
    env = {**ENV, "SLACK_URL": receiver.url}
    channels = build_channels(specs(data), environ=env, people={"alice": "alice@example.org"})
    assert isinstance(channels["slack"], SlackChannel) and channels["slack"].retries == 1
    assert isinstance(channels["pager"], PagerDutyChannel)
    assert isinstance(channels["hook"], WebhookChannel)
    assert isinstance(channels["mail"], EmailChannel)
    notifier = Notifier(channels)
    deliveries = notifier.send(message, ["slack", "pager", "hook", "mail"])
    notifier.close()
    assert [(d.channel, d.ok) for d in deliveries] == [
        ("slack", True), ("pager", True), ("hook", True), ("mail", True)
    ]  # fmt: skip
    bodies = {json.loads(r.body).get("event_action", "") for r in receiver.received}
    assert "trigger" in bodies
    hook = next(r for r in receiver.received if "x-ripcord-signature" in r.headers)
    stamp = int(hook.headers["x-ripcord-timestamp"])
    assert hook.headers["x-ripcord-signature"] == sign("hook-s3cret", stamp, hook.body.decode())
    assert smtp_server.received[0].rcpt_tos == ["alice@example.org"]


def test_unset_variables_are_all_named(receiver) -> None:
    data = {
        "slack": {"type": "slack", "url_env": "NO_SUCH_URL"},
        "pager": {"type": "pagerduty", "routing_key_env": "EMPTY_KEY"},
        "hook": {"type": "webhook", "url": receiver.url, "secret_env": "NO_SECRET"},
        "mail": {
            "type": "email",
            "host": "127.0.0.1",
            "sender": "r@example.org",
            "starttls": True,
            "username": "r",
            "password_env": "NO_PASSWORD",
        },
    }
    with pytest.raises(InputError) as caught:
        build_channels(specs(data), environ={"EMPTY_KEY": "  "})
    assert [str(p) for p in caught.value.problems] == [
        "channels.slack.url_env: 'NO_SUCH_URL' is not set in the environment",
        "channels.pager.routing_key_env: 'EMPTY_KEY' is empty in the environment",
        "channels.hook.secret_env: 'NO_SECRET' is not set in the environment",
        "channels.mail.password_env: 'NO_PASSWORD' is not set in the environment",
    ]


def test_the_process_environment_is_the_default(receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIPCORD_TEST_PD_KEY", "k")
    spec = ChannelSpec(type="pagerduty", routing_key_env="RIPCORD_TEST_PD_KEY")
    [channel] = build_channels({"pd": spec}).values()
    assert isinstance(channel, PagerDutyChannel)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "slack"}, "a slack channel needs url_env"),
        ({"type": "slack", "url_env": "X", "url": "https://hooks.slack.com/x"}, "url: not used"),
        ({"type": "pagerduty"}, "a pagerduty channel needs routing_key_env"),
        ({"type": "pagerduty", "routing_key": "abc"}, "routing_key"),
        ({"type": "pagerduty", "routing_key_env": "1BAD"}, "routing_key_env"),
        ({"type": "email", "host": "smtp"}, "needs sender"),
        ({"type": "email", "host": "h", "sender": "nope"}, "sender"),
        ({"type": "email", "host": "h", "sender": "a@b", "username": "u"}, "password_env"),
        (
            {"type": "email", "host": "h", "sender": "a@b", "username": "u", "password_env": "P"},
            "starttls",
        ),
        ({"type": "console", "url_env": "X"}, "url_env: not used by a console channel"),
        ({"type": "webhook", "url": "ftp://x"}, "http(s) url"),
        ({"type": "pagerduty", "routing_key_env": "K", "url": "x"}, "http(s) url"),
    ],
)
def test_schema_names_the_problem(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ChannelSpec.model_validate(spec)


def sop_file(tmp_path: Path, edit: dict[str, Any]) -> Path:
    from ripcord.drills import credit

    credit.write_golden(tmp_path / "golden" / "credit-risk.csv", n=50)
    data = sop_data()
    data.update(edit)
    path = tmp_path / "sop.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_sop_people_templates_and_email_recipients_are_checked(tmp_path: Path) -> None:
    channels = {
        "console": {"type": "console"},
        "mail": {"type": "email", "host": "smtp.example.org", "sender": "r@example.org"},
    }
    teams = sop_data()["teams"]
    teams["ml-credit"]["channels"] = ["console", "mail"]
    edit = {
        "channels": channels,
        "teams": teams,
        "people": {"alice": "alice@example.org"},
        "templates": {"page": "missing.j2"},
    }
    with pytest.raises(SopError) as caught:
        load.load(sop_file(tmp_path, edit), default_registry())
    assert [str(p) for p in caught.value.problems] == [
        f"templates.page: 'missing.j2' is not a file (looked for {tmp_path / 'missing.j2'})",
        "teams.ml-credit.backup: 'bob' has no email address under people, and the team "
        "pages by email",
    ]
    (tmp_path / "missing.j2").write_text("{{ model }} down\n\nbody\n")
    edit["people"] = {"alice": "alice@example.org", "bob": "bob@example.org"}
    sop = load.load(sop_file(tmp_path, edit), default_registry())
    assert sop.people["bob"] == "bob@example.org"
    assert sop.templates.page == "missing.j2"


def test_people_must_be_addresses() -> None:
    data = sop_data()
    data["people"] = {"alice": "not-an-address"}
    with pytest.raises(ValidationError, match="people.alice"):
        Sop.model_validate(data)
