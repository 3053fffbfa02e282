"""Message text in business terms, from Jinja2 templates the SOP file can override.

    title, body = render(MessageKind.PAGE, facts)                     # the default set
    templates = MessageTemplates.from_spec(sop.templates, base=sop_dir)
    title, body = templates.render(MessageKind.UPDATE, facts)         # with overrides

A template renders the whole message: its first non-blank line is the title, everything
after it the body (runs of blank lines collapse to one). Templates see the fields of
`IncidentFacts` as variables, plus `kind`, and two filters: `when` (a datetime as
"2026-01-01 09:30 UTC") and `number` (12,345).

Templates run in Jinja2's sandbox with undefined names as errors, and an override is
test-rendered when it is loaded, so a typo fails `sop validate` rather than a page. Should
an override still fail at render time, the default template is used: a page must go out.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from ripcord.errors import InputError, Problem
from ripcord.notify.base import MessageKind
from ripcord.sop.channels import MessageTemplatesSpec

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
NAMES = ("page", "update", "resolved")
# ACK has no template of its own: an acknowledgement is a status update.
TEMPLATE_OF: dict[MessageKind, str] = {
    MessageKind.PAGE: "page",
    MessageKind.UPDATE: "update",
    MessageKind.ACK: "update",
    MessageKind.RESOLVED: "resolved",
}


@dataclass(frozen=True)
class IncidentFacts:
    """What a message says about an incident, in business terms.

    `headline` is what went wrong in a few words; `decisions` names the decisions the model
    makes ("loan approvals"); `serving` says what answers now ("the fallback rule",
    "version v3"); `segment` is "" when all traffic is affected; `resolution` says how it
    ended (resolved messages). `extra` is free for SOP templates (`{{ extra.region }}`).
    """

    incident_id: int
    model: str
    severity: str
    status: str
    headline: str
    started_at: datetime
    at: datetime
    requests_affected: int
    users_affected: int | None = None
    decisions: str = ""
    serving: str = ""
    segment: str = ""
    owner: str = ""
    version: str | None = None
    ack_by: datetime | None = None
    next_update: datetime | None = None
    resolution: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def variables(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def when(value: datetime | None) -> str:
    """A timestamp as people read it in a message, always in UTC."""
    if value is None:
        return "not set"
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def number(value: int | float | None) -> str:
    return "unknown" if value is None else f"{value:,}"


def _environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # plain text; each channel escapes for its own format
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.filters["number"] = number
    return env


def split(text: str) -> tuple[str, str]:
    """A rendered template's (title, body): the first non-blank line, then the rest."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    title = lines[0].strip() if lines else ""
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(lines[1:])).strip()
    return title, body


class MessageTemplates:
    """The default templates, with any overrides (template name → compiled template)."""

    def __init__(self, overrides: Mapping[str, jinja2.Template] | None = None) -> None:
        self._env = _environment()
        self._defaults = {name: self._env.get_template(f"{name}.txt.j2") for name in NAMES}
        self._overrides = dict(overrides or {})

    def __repr__(self) -> str:
        return f"MessageTemplates(overrides={sorted(self._overrides)})"

    @classmethod
    def from_spec(cls, spec: MessageTemplatesSpec, base: Path) -> MessageTemplates:
        """Load the SOP's overrides (paths relative to `base`, the SOP file's folder);
        raise InputError naming each bad `templates.<name>`."""
        compiled, problems = _load(spec, base)
        if problems:
            raise InputError("message templates", problems)
        return cls(compiled)

    def render(self, kind: MessageKind, facts: IncidentFacts) -> tuple[str, str]:
        """(title, body) for a message of `kind` about `facts`."""
        name = TEMPLATE_OF[kind]
        variables = {**facts.variables(), "kind": kind.value}
        override = self._overrides.get(name)
        if override is not None:
            try:
                return _checked(split(override.render(variables)))
            except Exception:
                log.exception(
                    "template override failed; using the default",
                    extra={"template": name, "incident_id": facts.incident_id},
                )
        return split(self._defaults[name].render(variables))


@functools.cache
def default_templates() -> MessageTemplates:
    """The package's templates, compiled once."""
    return MessageTemplates()


def render(
    kind: MessageKind, facts: IncidentFacts, templates: MessageTemplates | None = None
) -> tuple[str, str]:
    """(title, body) for a message of `kind`, from `templates` or the default set."""
    return (templates or default_templates()).render(kind, facts)


def problems(spec: MessageTemplatesSpec, base: Path) -> list[Problem]:
    """Every problem with the SOP's template overrides (for `sop validate`)."""
    return _load(spec, base)[1]


def _checked(parts: tuple[str, str]) -> tuple[str, str]:
    if not parts[0]:
        raise ValueError("the template rendered no title line")
    return parts


def _load(
    spec: MessageTemplatesSpec, base: Path
) -> tuple[dict[str, jinja2.Template], list[Problem]]:
    env = _environment()
    compiled: dict[str, jinja2.Template] = {}
    found: list[Problem] = []
    for name in NAMES:
        relative = getattr(spec, name)
        if relative is None:
            continue
        try:
            compiled[name] = _compile(env, base / relative, name)
        except ValueError as exc:
            found.append(Problem(f"templates.{name}", relative, str(exc)))
    return compiled, found


def _compile(env: SandboxedEnvironment, path: Path, name: str) -> jinja2.Template:
    """Compile one override and render it once with sample facts; ValueError if it fails."""
    if not path.is_file():
        raise ValueError(f"is not a file (looked for {path})")
    try:
        template = env.from_string(path.read_text(encoding="utf-8"))
        kind = next(k for k, n in TEMPLATE_OF.items() if n == name)
        _checked(split(template.render({**SAMPLE.variables(), "kind": kind.value})))
    except jinja2.TemplateSyntaxError as exc:
        raise ValueError(f"line {exc.lineno}: {exc.message}") from None
    except (jinja2.TemplateError, ValueError, TypeError) as exc:
        raise ValueError(f"does not render: {exc}") from None
    return template


_T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
SAMPLE = IncidentFacts(
    incident_id=1,
    model="pricing",
    severity="SEV-2",
    status="contained",
    headline="accuracy 0.71 under the 0.80 SLA",
    started_at=_T0,
    at=_T0 + timedelta(minutes=5),
    requests_affected=1234,
    users_affected=321,
    decisions="price quotes",
    serving="the fallback rule",
    owner="alice",
    version="v2",
    ack_by=_T0 + timedelta(hours=1),
    next_update=_T0 + timedelta(minutes=35),
    resolution="v1 restored and verified",
)
