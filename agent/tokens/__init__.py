"""Offline-verifiable pickup tokens: format, verification, trust bundle, live and typed codes.

The format is specified in docs/tokens.md. Import from the submodules; the names below are the
surface the agent wires in.
"""

from agent.tokens.check import check_token, verify_signed
from agent.tokens.claims import Claims, Purpose, TokenFlags
from agent.tokens.errors import BundleProblem, TokenError, TrustBundleError
from agent.tokens.live import SeenFrames
from agent.tokens.trust import TrustBundle, TrustedKey, load_trust_bundle
from agent.tokens.verify import VerifiedToken, VerifyContext, verify_token

__all__ = [
    "BundleProblem",
    "Claims",
    "Purpose",
    "SeenFrames",
    "TokenError",
    "TokenFlags",
    "TrustBundle",
    "TrustBundleError",
    "TrustedKey",
    "VerifiedToken",
    "VerifyContext",
    "check_token",
    "load_trust_bundle",
    "verify_signed",
    "verify_token",
]
