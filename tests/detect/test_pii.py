"""PII in LLM replies: checksums keep look-alikes out, one leak pages, nothing raw is kept."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ripcord.detect import PiiDetector
from ripcord.detect.base import DetectorRegistry, Reference
from ripcord.detect.pii import find_pii, iban_valid, luhn_valid, mask, nino_valid, ssn_valid
from ripcord.events import InferenceEvent, Route
from ripcord.sop.schema import DetectorSpec, ModelSop
from ripcord.sop.severity import IncidentType, Severity, SeverityPolicy

Event = Callable[..., InferenceEvent]


@pytest.mark.parametrize(
    ("digits", "valid"),
    [
        ("4111111111111111", True),  # Visa test number
        ("5500005555555559", True),  # Mastercard test number
        ("378282246310005", True),  # Amex test number
        ("4111111111111112", False),
        ("79927398713", True),  # the textbook Luhn example
        ("79927398710", False),
    ],
)
def test_luhn(digits: str, valid: bool) -> None:
    assert luhn_valid(digits) is valid


def test_iban_mod97() -> None:
    assert iban_valid("DE89 3704 0044 0532 0130 00")
    assert iban_valid("GB82WEST12345698765432")
    assert not iban_valid("GB82WEST12345698765433")
    assert not iban_valid("DE89 3704")  # too short for any country


def test_ssn_and_nino_never_issued_ranges() -> None:
    assert ssn_valid("123", "45", "6789")
    for bad in (("000", "12", "3456"), ("666", "12", "3456"), ("912", "12", "3456")):
        assert not ssn_valid(*bad)
    assert not ssn_valid("123", "00", "4567") and not ssn_valid("123", "45", "0000")
    assert nino_valid("AB") and not nino_valid("GB") and not nino_valid("QA")


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("write to john.doe@example.com today", ["email"]),
        ("call +1 415-555-0132 or (415) 555-0199", ["phone", "phone"]),
        ("UK office: +44 20 7946 0958", ["phone"]),
        ("paid with 4111 1111 1111 1111", ["card"]),
        ("paid with 4111-1111-1111-1111.", ["card"]),
        ("IBAN DE89 3704 0044 0532 0130 00 THANKS", ["iban"]),
        ("SSN 123-45-6789", ["national_id"]),
        ("NI number AB 12 34 56 C", ["national_id"]),
        # look-alikes: a Luhn-invalid card, a never-issued SSN, an order id, a date,
        # an IP address, a price, a bad IBAN checksum
        ("card 4111 1111 1111 1112", []),
        ("ssn 666-12-3456 or 900-12-3456", []),
        ("order 1234567890 shipped 2024-01-15", []),
        ("host 192.168.100.100 costs 1,299.00", []),
        ("IBAN GB82WEST12345698765433", []),
    ],
)
def test_find_pii(text: str, kinds: list[str]) -> None:
    assert [f.kind for f in find_pii(text)] == kinds


def test_a_card_is_not_also_a_phone_and_kinds_filter() -> None:
    found = find_pii("card 5500 0055 5555 5559, mail a@b.io")
    assert [f.kind for f in found] == ["card", "email"]
    assert [f.kind for f in find_pii("card 5500 0055 5555 5559, mail a@b.io", ["email"])] == [
        "email"
    ]


def test_mask_keeps_shape_and_only_a_cards_last_four() -> None:
    assert mask("card", "4111 1111 1111 1111") == "**** **** **** 1111"
    assert mask("email", "jo@x.io") == "**@*.**"
    assert mask("national_id", "123-45-6789") == "***-**-****"


def reply(event: Event, i: int, text: str, **fields: object) -> InferenceEvent:
    return event(i, prediction=text, **fields)


def test_one_leak_breaches_by_default_and_evidence_is_masked(
    registry: DetectorRegistry, model: ModelSop, reference: Reference, event: Event
) -> None:
    d = registry.build(DetectorSpec(type="pii"), model, reference)
    assert isinstance(d, PiiDetector) and d.threshold == 0.0
    for i in range(100):
        d.observe(reply(event, i, "Orders ship within 3 business days."))
    clean = d.check()
    assert clean is not None and not clean.breached and clean.value == 0.0
    d.observe(reply(event, 100, "Sure, Jane's card is 4111 1111 1111 1111, SSN 123-45-6789."))
    leak = d.check()
    assert leak is not None and leak.breached
    assert leak.evidence["replies_with_pii"] == 1
    assert leak.evidence["kinds"] == {"card": 1, "national_id": 1}
    assert "**** **** **** 1111" in " ".join(leak.evidence["examples_masked"])
    text = repr(leak.evidence) + repr(list(d._values))  # the window keeps no raw PII either
    assert "4111 1111 1111 1111" not in text and "123-45-6789" not in text
    assert SeverityPolicy().classify("pii", leak.value).severity is Severity.SEV1


def test_reads_champion_replies_and_guardrail_catches_only(event: Event) -> None:
    d = PiiDetector(name="pii", window=10)
    d.observe(reply(event, 0, "mail me: a@b.io", route=Route.FALLBACK))  # not the model's
    d.observe(reply(event, 1, "mail me: a@b.io", route=Route.SHADOW))  # never served
    d.observe(event(2, prediction=42))  # not text
    assert d.check() is None
    caught = "guardrail:no-email: matched 'bob@example.com'"
    d.observe(reply(event, 3, "[removed]", route=Route.GUARDED, violations=(caught,)))
    reading = d.check()
    assert reading is not None and reading.evidence["kinds"] == {"email": 1}
    assert reading.window == 1


def test_kinds_parameter(event: Event) -> None:
    d = PiiDetector(name="pii", window=10, kinds=["card"])
    d.observe(reply(event, 0, "mail me: a@b.io"))
    reading = d.check()
    assert reading is not None and reading.value == 0.0
    with pytest.raises(ValueError, match=r"^kinds: \['passport'\] must be"):
        PiiDetector(name="pii", window=10, kinds=["passport"])
    with pytest.raises(ValueError, match=r"^kinds: 'email' must be"):
        PiiDetector(name="pii", window=10, kinds="email")


def test_severity_rules_for_the_safety_families() -> None:
    policy = SeverityPolicy()
    for family in ("pii", "fairness"):
        assert policy.classify(family, 0.5).severity is Severity.SEV1
        assert policy.classify(family, 0.5).incident_type is IncidentType.SAFETY
    assert policy.classify("policy_phrases", 0.1).severity is Severity.SEV2
    assert policy.classify("policy_phrases", 0.1).incident_type is IncidentType.SAFETY
    assert policy.classify("groundedness", 0.3).severity is Severity.SEV2
    for family in ("refusal_rate", "output_length", "shadow_disagreement"):
        assert policy.classify(family, 0.5).severity is Severity.SEV3
        assert policy.classify(family, 0.5).incident_type is IncidentType.MODEL_QUALITY
