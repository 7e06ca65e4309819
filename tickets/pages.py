"""Server-rendered pages of live chat: the hosted widget page, the worker console, the ops live board."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from workers.models import Skill


def chat(request):
    topics = Skill.objects.filter(active=True).order_by("code")
    return render(request, "tickets/chat.html", {"topics": topics})


@login_required
def console(request):
    if not request.user.is_worker and not request.user.is_ops:
        raise PermissionDenied
    return render(request, "tickets/console.html")


@login_required
def ops_live(request):
    if not request.user.is_ops:
        raise PermissionDenied
    return render(request, "tickets/ops_live.html")
