"""Finding personal data in text, with the checksums that keep look-alikes out.

A pattern alone flags every order number: a payment card is 13 to 19 digits that pass the
Luhn check (ISO/IEC 7812-1) and start like a card scheme (2-6); an IBAN passes the
ISO 13616 mod-97 check; a US Social Security Number is never in area 000, 666 or 900-999,
group 00 or serial 0000 (SSA rules since 2011); a UK National Insurance number never starts
with D, F, I, Q, U or V, nor O as its second letter, nor with BG, GB, KN, NK, NT, TN or ZZ
(HMRC NIM39110). A phone number needs a `+` country code or separators (`+44 20 7946 0958`,
`(415) 555-0132`, `415-555-0132`), because a bare run of ten digits is an id far more often
than a phone, and 10-15 digits in all (ITU-T E.164 allows at most 15). Dotted numbers
that read as IPv4 addresses are not phones.

Kinds are searched in the order of `KINDS`, and what one kind found is blanked before the
next looks, so a card number is not counted as a phone too. What is found is only ever
shown masked (`mask`): the report says "card ************1111", never the number.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

KINDS = ("iban", "card", "national_id", "email", "phone")

_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_SSN = re.compile(r"(?<![\d-])(\d{3})-(\d{2})-(\d{4})(?![\d-])")
_NINO = re.compile(r"\b([A-Z]{2}) ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b")
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_PHONE = re.compile(r"(?<![\w+])(?:\+|\(\d)?\d[\d ().-]{7,}\d(?![\w])")
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")

_NINO_BAD_FIRST = frozenset("DFIQUV")
_NINO_BAD_SECOND = frozenset("DFIQUVO")
_NINO_BAD_PREFIX = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check of ISO/IEC 7812-1: double every second digit from the right."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def iban_valid(text: str) -> bool:
    """ISO 13616: move the first four characters to the end, letters to 10..35, mod 97 is 1."""
    compact = text.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def ssn_valid(area: str, group: str, serial: str) -> bool:
    """The SSA's never-issued ranges: area 000, 666, 900-999; group 00; serial 0000."""
    return area not in {"000", "666"} and area[0] != "9" and group != "00" and serial != "0000"


def nino_valid(prefix: str) -> bool:
    """HMRC's never-allocated prefixes (NIM39110)."""
    return (
        prefix[0] not in _NINO_BAD_FIRST
        and prefix[1] not in _NINO_BAD_SECOND
        and prefix not in _NINO_BAD_PREFIX
    )


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def _iban(found: re.Match[str]) -> str | None:
    # The pattern may run on into a following upper-case word: drop trailing groups.
    text = found.group(0)
    while len(text.replace(" ", "")) >= 15:
        if iban_valid(text):
            return text
        text = text.rpartition(" ")[0]
    return None


def _card(found: re.Match[str]) -> str | None:
    digits = _digits(found.group(0))
    ok = 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_valid(digits)
    return found.group(0) if ok else None


def _phone(found: re.Match[str]) -> str | None:
    text = found.group(0).strip(" .-")
    digits = _digits(text)
    separated = text.startswith(("+", "(")) or any(c in text for c in " .-")
    ok = 10 <= len(digits) <= 15 and separated and not _IPV4.match(text)
    return text if ok else None


def _national_id(found: re.Match[str]) -> str | None:
    ok = ssn_valid(*found.groups()) if found.re is _SSN else nino_valid(found.group(1))
    return found.group(0) if ok else None


def _email(found: re.Match[str]) -> str | None:
    return found.group(0)


Validate = Callable[[re.Match[str]], "str | None"]
#: per kind: its patterns, and the check that returns the valid text of a match (or None)
_CHECKS: dict[str, tuple[tuple[re.Pattern[str], ...], Validate]] = {
    "iban": ((_IBAN,), _iban),
    "card": ((_CARD,), _card),
    "national_id": ((_SSN, _NINO), _national_id),
    "email": ((_EMAIL,), _email),
    "phone": ((_PHONE,), _phone),
}


@dataclass(frozen=True)
class Found:
    """One piece of personal data: its kind and the text, to be shown only through `mask`."""

    kind: str
    text: str

    @property
    def masked(self) -> str:
        return mask(self.kind, self.text)


def mask(kind: str, text: str) -> str:
    """The text with every letter and digit starred except the last four of a card (as PCI
    DSS allows on receipts); separators are kept so the shape still shows."""
    keep = 4 if kind == "card" else 0
    chars = list(text)
    alnum = [i for i, c in enumerate(chars) if c.isalnum()]
    for i in alnum[: len(alnum) - keep]:
        chars[i] = "*"
    return "".join(chars)


def find_pii(text: str, kinds: Iterable[str] = KINDS) -> list[Found]:
    """Every piece of personal data of the given kinds in `text`, in `KINDS` order."""
    wanted = set(kinds)
    found: list[Found] = []
    for kind in KINDS:
        if kind not in wanted:
            continue
        patterns, valid = _CHECKS[kind]
        for pattern in patterns:
            for match in pattern.finditer(text):
                seen = valid(match)
                if seen is not None:
                    found.append(Found(kind, seen))
                    start, end = match.span()
                    text = text[:start] + " " * (end - start) + text[end:]
    return found
