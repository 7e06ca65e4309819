"""The ops page of canned responses: list, create, edit and delete, through
`tickets.canned_responses` (which checks the placeholders)."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from kernel.errors import DomainError
from tickets.canned_responses import (
    BODY_MAX,
    PLACEHOLDERS,
    TITLE_MAX,
    canned_response_create,
    canned_response_delete,
    canned_response_update,
)
from tickets.models import CannedResponse
from workers.models import Skill


class CannedResponseForm(forms.Form):
    """The page's fields; the rules (placeholders, language, topic) are the service's."""

    title = forms.CharField(max_length=TITLE_MAX, help_text="Workers pick the response by this title.")
    body = forms.CharField(max_length=BODY_MAX, widget=forms.Textarea(attrs={"rows": 5}),
                           help_text="What the worker sends. Placeholders are filled in for each chat.")
    language = forms.CharField(max_length=2, required=False, label="Language (optional)",
                               help_text="A two-letter code such as en; empty: offered in every language.")
    topic = forms.ChoiceField(required=False, label="Topic (optional)")
    active = forms.BooleanField(required=False, initial=True, label="Offered in the console")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["topic"].choices = [("", "Any topic")] + [
            (s.code, s.name) for s in Skill.objects.filter(active=True).order_by("code")]


def _ops_or_403(request) -> None:
    if not request.user.is_ops:
        raise PermissionDenied


def _save(request, form: CannedResponseForm, response_id: int | None):
    """Run the create or update service for a valid form; put its field errors on the form."""
    data = form.cleaned_data
    values = {"title": data["title"], "body": data["body"], "language": data["language"],
              "topic": data["topic"] or None, "active": data["active"]}
    try:
        if response_id is None:
            saved = canned_response_create(**values)
        else:
            saved = canned_response_update(response_id=response_id, **values)
    except DomainError as exc:
        for name, problems in (exc.fields or {"__all__": [exc.detail]}).items():
            for problem in problems:
                form.add_error(name if name in form.fields else None, problem)
        return None
    messages.success(request, f"Saved “{saved.title}”.")
    return redirect("ops-canned-responses")


@login_required
@require_http_methods(["GET", "POST"])
def ops_canned_responses(request):
    _ops_or_403(request)
    form = CannedResponseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        done = _save(request, form, None)
        if done:
            return done
    return render(request, "tickets/ops_canned_responses.html", {
        "form": form, "responses": CannedResponse.objects.select_related("topic").order_by("title", "pk"),
        "placeholders": PLACEHOLDERS,
    })


@login_required
@require_http_methods(["GET", "POST"])
def ops_canned_response_edit(request, response_id: int):
    _ops_or_403(request)
    response = CannedResponse.objects.filter(pk=response_id).first()
    if response is None:
        raise Http404
    initial = {"title": response.title, "body": response.body, "language": response.language,
               "topic": response.topic_id or "", "active": response.active}
    form = CannedResponseForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        done = _save(request, form, response.pk)
        if done:
            return done
    return render(request, "tickets/ops_canned_response_edit.html", {
        "form": form, "response": response, "placeholders": PLACEHOLDERS,
    })


@login_required
@require_POST
def ops_canned_response_delete(request, response_id: int):
    _ops_or_403(request)
    title = CannedResponse.objects.filter(pk=response_id).values_list("title", flat=True).first()
    if canned_response_delete(response_id=response_id):
        messages.success(request, f"Deleted “{title}”.")
    return redirect("ops-canned-responses")
