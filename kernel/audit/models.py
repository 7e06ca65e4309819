from enum import StrEnum

from django.conf import settings
from django.db import models
from django.db.models.functions import Now


class AuditAction(StrEnum):
    """The staff and security actions the audit trail records (API.md, "Accounts and security")."""

    AUTH_LOGIN = "auth.login"
    AUTH_LOGIN_FAILED = "auth.login_failed"
    AUTH_LOCKED_OUT = "auth.locked_out"
    AUTH_UNLOCK = "auth.unlock"
    AUTH_LOGOUT = "auth.logout"
    AUTH_PASSWORD_CHANGE = "auth.password_change"
    AUTH_2FA_SETUP = "auth.2fa_setup"
    AUTH_2FA_CONFIRM = "auth.2fa_confirm"
    AUTH_2FA_FAILED = "auth.2fa_failed"
    AUTH_2FA_DEVICE_CHANGE = "auth.2fa_device_change"  # a device added, edited or deleted in the admin
    WORKER_APPROVE = "worker.approve"
    WORKER_REJECT = "worker.reject"
    WORKER_SUSPEND = "worker.suspend"
    WORKER_EXPORT = "worker.export"
    WORKER_DELETE = "worker.delete"
    SHIFT_CREATE = "shift.create"
    SHIFT_CANCEL = "shift.cancel"
    TICKET_TRANSFER = "ticket.transfer"
    RATE_CARD_UPDATE = "rate_card.update"
    PAYOUT_RUN_START = "payout_run.start"
    QUALITY_REVIEW = "quality.review"
    QUALITY_DECIDE = "quality.decide"
    PERSONAL_DATA_PURGE = "personal_data.purge"


class AuditEntry(models.Model):
    """One staff or security action: who, when, from where, on what, and the state before and after.

    Append-only: a trigger created by the migration refuses UPDATE, DELETE and TRUNCATE, so not
    even a superuser's SQL console can rewrite history through Django.
    """

    at = models.DateTimeField(db_default=Now(), db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                              related_name="+")
    # The username when the action happened (a login attempt may name no existing user).
    actor_username = models.CharField(max_length=150, blank=True, default="")
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64, blank=True, default="")
    object_id = models.CharField(max_length=64, blank=True, default="")
    ip = models.GenericIPAddressField(null=True, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["action", "-at"], name="audit_action_at_idx"),
            models.Index(fields=["actor", "-at"], name="audit_actor_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_username or '-'} {self.action}"
