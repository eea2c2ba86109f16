"""Admin roles and what each may do, as one ordered rule list.

A role is a set of capabilities; an endpoint or command declares the capability it needs. The
order of ROLES is from most to least powerful, and each role holds everything of the ones after
it plus its own (owner ⊃ billing ⊃ support ⊃ read), so "needs billing" means owner or billing.
"""

from __future__ import annotations

from billing_core.errors import InvalidInput

OWNER = "owner"  # everything, including managing admin keys and reading the audit log
BILLING = "billing"  # money and settings: grants, refunds, prices, plans, subscriptions, keys, budgets
SUPPORT = "support"  # read everything, replay rejected events, read the audit log
READ = "read"  # read everything
ROLES = (OWNER, BILLING, SUPPORT, READ)

# Reading the audit log is the one need that is not a role: owner and support may, billing may not.
AUDIT = "audit"
AUDIT_READERS = frozenset({OWNER, SUPPORT})


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput("role", f"one of {', '.join(ROLES)}")
    return role


def role_allows(role: str, needed: str) -> bool:
    """Whether a key of `role` may do what needs `needed` (a role, or AUDIT)."""
    if needed == AUDIT:
        return role in AUDIT_READERS
    return role in ROLES and ROLES.index(role) <= ROLES.index(needed)
