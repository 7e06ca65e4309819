"""Server-rendered pages of live chat: the hosted widget page, the worker console, the ops live board."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render

from workers import selectors as worker_selectors
from workers.models import Skill, WorkerStatus


def chat(request):
    topics = Skill.objects.filter(active=True).order_by("code")
    return render(request, "tickets/chat.html", {"topics": topics})


@login_required
def console(request):
    """The worker console. Only an approved worker's socket is accepted: anyone else who applied is
    sent to their application status, and staff see a note instead of a socket that would be refused."""
    user = request.user
    if not user.is_worker and not user.is_ops:
        raise PermissionDenied
    context: dict = {"is_worker": user.is_worker}
    if user.is_worker:
        worker = worker_selectors.worker_of(user)
        if worker is None:
            raise PermissionDenied
        if worker.status != WorkerStatus.APPROVED:
            return redirect("worker-application-page")
        context.update(worker=worker, shift=worker_selectors.console_shift(worker_id=worker.pk))
    return render(request, "tickets/console.html", context)


@login_required
def ops_live(request):
    if not request.user.is_ops:
        raise PermissionDenied
    return render(request, "tickets/ops_live.html")
