from django.apps import AppConfig


class PayoutsConfig(AppConfig):
    name = "payouts"

    def ready(self) -> None:
        from payouts import checks  # noqa: F401 - registers the deploy checks
