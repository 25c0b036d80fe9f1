"""Call control for external agents: place, follow and steer calls, within a safety policy.

:class:`CallService` is the one implementation behind ``PatterTool``, the ``getpatter-mcp``
server and the LangChain tools. :class:`SafetyPolicy` says which calls may be placed;
:class:`AuditLog` records every request and its outcome in SQLite. When the policy requires
confirmation, a person confirms planned calls, e.g. on a :class:`ConfirmationPage`.
"""

from getpatter.control.audit import AuditEntry, AuditLog
from getpatter.control.confirmation import ConfirmationPage
from getpatter.control.plans import CallPlan, PlanBook
from getpatter.control.policy import SafetyPolicy
from getpatter.control.record import CallRecord
from getpatter.control.service import CallService, acting_for

__all__ = [
    "AuditEntry",
    "AuditLog",
    "CallPlan",
    "CallRecord",
    "CallService",
    "ConfirmationPage",
    "PlanBook",
    "SafetyPolicy",
    "acting_for",
]
