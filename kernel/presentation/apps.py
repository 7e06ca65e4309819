from django.apps import AppConfig


class PresentationConfig(AppConfig):
    name = "kernel.presentation"
    label = "presentation"
    verbose_name = "Presentation (money, times, the viewer's timezone)"
