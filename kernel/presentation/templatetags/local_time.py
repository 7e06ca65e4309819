"""`{{ moment|local_time }}` → `<time datetime="…Z">Wed 2 Dec 2026, 05:49 Europe/Paris</time>`, in
the viewer's timezone (the one `ViewerTimezoneMiddleware` activated) with the zone named;
`{{ moment|local_time:"time" }}` leaves the date out. `{% viewer_zone %}` names that zone."""

import datetime as dt

from django import template
from django.utils import timezone
from django.utils.html import format_html

from kernel.presentation.formatting import local_time_text, zone_label

register = template.Library()


@register.filter
def local_time(value, part: str = ""):
    if not isinstance(value, dt.datetime):
        return "—"
    text = local_time_text(value, timezone.get_current_timezone(), with_date=part != "time")
    return format_html('<time datetime="{}">{}</time>', value.astimezone(dt.UTC).isoformat(), text)


@register.simple_tag
def viewer_zone() -> str:
    return zone_label(timezone.get_current_timezone())
