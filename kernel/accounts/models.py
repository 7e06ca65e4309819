"""API tokens, stored as SHA-256 digests of high-entropy keys (docs/decisions.md, issue 14)."""

from django.conf import settings
from django.db import models
from django.db.models.functions import Now


class ApiToken(models.Model):
    """One API token. The key itself is shown once, when issued, and never stored: the row holds
    its SHA-256 digest, so a copy of the database gives no usable token. A 256-bit random key
    needs no slow hash (there is nothing to guess), so the lookup stays one indexed equality."""

    digest = models.CharField(max_length=64, primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    created_at = models.DateTimeField(db_default=Now())
    # NULL: no expiry (none is issued so today; tokens migrated from before issue 14 get one).
    expires_at = models.DateTimeField(null=True, blank=True)
    # Issued after a second factor was checked (or the token confirmed a new device): a staff
    # token without it may reach only the two-factor endpoints and logout while 2FA is required.
    otp_verified = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["user"], name="accounts_token_user_idx")]

    def __str__(self) -> str:
        return f"token {self.digest[:8]}… of user {self.user_id}"
