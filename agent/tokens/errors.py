"""Errors of the token layer. Only `TokenError` (and subclasses) may escape verification."""

from __future__ import annotations

from enum import StrEnum

from agent.errors import AgentError
from agent.reasons import Reason


class TokenError(AgentError):
    """A token, live code, typed code or trust bundle was refused; `reason` says why.

    `detail` is for the log and names the failed check; it never contains the token itself.
    """

    reason = Reason.MALFORMED


class BundleProblem(StrEnum):
    """Why a trust bundle was refused (finer than its reason code, for the log and the hub)."""

    TOO_LARGE = "too_large"
    MALFORMED = "malformed"
    UNKNOWN_ROOT = "unknown_root"
    BAD_SIGNATURE = "bad_signature"
    ROLLBACK = "rollback"


_BUNDLE_REASONS = {
    BundleProblem.TOO_LARGE: Reason.TOO_LARGE,
    BundleProblem.MALFORMED: Reason.MALFORMED,
    BundleProblem.UNKNOWN_ROOT: Reason.UNKNOWN_KID,
    BundleProblem.BAD_SIGNATURE: Reason.BAD_SIGNATURE,
    # No reason code is closer: a rolled-back bundle is an old trust list presented as current.
    BundleProblem.ROLLBACK: Reason.TRUSTLIST_STALE,
}


class TrustBundleError(TokenError):
    """A trust bundle was refused; the installed bundle stays in force."""

    def __init__(self, problem: BundleProblem, detail: str = "") -> None:
        super().__init__(detail or problem.value, reason=_BUNDLE_REASONS[problem])
        self.problem = problem
