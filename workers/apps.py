from django.apps import AppConfig


class WorkersConfig(AppConfig):
    name = "workers"

    def ready(self):
        # DRF's settings name classes in marketplace.api, which imports rest_framework.views; if a
        # system check (they run in no fixed order) imports marketplace.api before anything imported
        # rest_framework.views, the two import each other half-initialised. Importing the views
        # first at start-up makes the order fixed. (The proper fix belongs in marketplace/api.py.)
        import rest_framework.views  # noqa: F401
