import logging

from django.apps import AppConfig
from django.conf import settings


class AccountsConfig(AppConfig):
    name = "kernel.accounts"
    label = "accounts"
    verbose_name = "Accounts and security"

    def ready(self) -> None:
        from kernel.accounts.logs import RedactTokens

        for name in settings.REDACT_TOKENS_IN_LOGGERS:
            logger = logging.getLogger(name)
            if not any(isinstance(f, RedactTokens) for f in logger.filters):
                logger.addFilter(RedactTokens())
