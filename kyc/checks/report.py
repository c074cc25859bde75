"""The automatic checks' result: one named outcome per check, with its evidence, and the decision.

This is the contract between the checks engine (kyc.checks), the review queue (kyc.services), the
`kyc_check` command and the API: all of them read and print the same `Report`.

- Every check is a separate `CheckResult` with a stable `name` (e.g. "mrz_check_digits"), an
  `outcome` (pass / fail / unreadable), the `evidence` it decided on (what was read, what it was
  compared with) and the document it looked at.
- A failing check says what a failure means (`on_fail`): `review` sends the submission to a
  compliance officer; `reject` refuses it outright as retryable, because no officer could approve it
  (an expired passport, a bill older than the brand allows, a library card in the identity slot),
  and `client_hint` tells the client what to send instead.
- The decision: `reject` when a failed check demands it; otherwise `review` when anything failed or
  could not be decided; `approve` only when every check passed. An unreadable check never approves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    PASS = "pass"  # noqa: S105 (an outcome, not a password)
    FAIL = "fail"
    UNREADABLE = "unreadable"


class Decision(StrEnum):
    APPROVE = "approve"
    REVIEW = "review"
    REJECT = "reject"


class OnFail(StrEnum):
    REVIEW = "review"
    REJECT = "reject"


@dataclass(frozen=True)
class CheckResult:
    name: str
    outcome: Outcome
    evidence: dict[str, Any] = field(default_factory=dict)
    document: str = ""  # which upload it looked at: the file name or the document's slot label
    on_fail: OnFail = OnFail.REVIEW
    client_hint: str = ""  # what the client should fix, in plain words (translated when shown)

    @property
    def hint_message(self) -> tuple[str, dict[str, Any]]:
        """The hint as its message id and parameters, for translating it: a hint with numbers or lists
        in it keeps its template and parameters in `evidence["client_hint"]` (`client_hint` holds it
        filled in, in English)."""
        stored = self.evidence.get("client_hint")
        if isinstance(stored, dict) and stored.get("message"):
            return str(stored["message"]), dict(stored.get("params") or {})
        return self.client_hint, {}

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASS

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "outcome": str(self.outcome),
            "evidence": self.evidence,
            "document": self.document,
            "on_fail": str(self.on_fail),
            "client_hint": self.client_hint,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        return cls(name=str(data["name"]), outcome=Outcome(data["outcome"]), evidence=dict(data.get("evidence") or {}),
                   document=str(data.get("document") or ""), on_fail=OnFail(data.get("on_fail") or "review"),
                   client_hint=str(data.get("client_hint") or ""))


def hinted(evidence: dict[str, Any], message: str, **params: Any) -> tuple[dict[str, Any], str]:
    """Evidence carrying a parametrised hint's template and parameters, and the hint filled in."""
    return {**evidence, "client_hint": {"message": message, "params": params}}, message % params


@dataclass(frozen=True)
class Report:
    checks: tuple[CheckResult, ...]
    engine_version: str = "1"
    # What was read off the documents, for the records and the duplicate checks: "document_type"
    # (passport / id_card / driving_licence / utility_bill / bank_statement / unknown),
    # "document_number", "issuing_country" (alpha-3 as in the MRZ), "nationality", "surname",
    # "given_names", "birth_date" and "expiry_date" (ISO dates), "issue_date" (proof of address).
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def decision(self) -> Decision:
        if not self.checks:
            return Decision.REVIEW  # nothing was checked: nothing can be approved
        failed = [c for c in self.checks if c.outcome is Outcome.FAIL]
        if any(c.on_fail is OnFail.REJECT for c in failed):
            return Decision.REJECT
        if failed or any(c.outcome is Outcome.UNREADABLE for c in self.checks):
            return Decision.REVIEW
        return Decision.APPROVE

    @property
    def problems(self) -> list[CheckResult]:
        """The checks that did not pass, in the order they ran (what the reviewer sees highlighted)."""
        return [c for c in self.checks if c.outcome is not Outcome.PASS]

    def as_dict(self) -> dict[str, Any]:
        return {"decision": str(self.decision), "engine_version": self.engine_version,
                "checks": [c.as_dict() for c in self.checks], "facts": self.facts}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        return cls(checks=tuple(CheckResult.from_dict(c) for c in data.get("checks") or ()),
                   engine_version=str(data.get("engine_version") or "1"), facts=dict(data.get("facts") or {}))

    def __add__(self, other: Report) -> Report:
        return Report(checks=self.checks + other.checks, engine_version=self.engine_version,
                      facts={**self.facts, **other.facts})
