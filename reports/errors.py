"""Domain errors of the reports app (rendered by kernel.api.exception_handler).

Stripe being unreachable during a reconciliation is payouts' `StripeUnavailable`: one code, one class.
"""

from __future__ import annotations

from enum import StrEnum

from kernel.errors import Conflict


class ReportErrorCode(StrEnum):
    EXPORT_NOT_READY = "export_not_ready"


class ExportNotReady(Conflict):
    code = ReportErrorCode.EXPORT_NOT_READY
    default_detail = "The export is not ready yet."
