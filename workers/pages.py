"""Server-rendered pages of the workers app. They call the same services and selectors as the API;
a refused action is shown as a message, in the words of the domain error."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from collections.abc import Callable, Iterable
from functools import wraps
from typing import cast

import pycountry
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, password_validation
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from kernel.errors import DomainError
from kernel.presentation.formatting import local_time_text, money_text, zone_label
from workers import selectors
from workers.models import ClaimStatus, Skill, WorkerStatus
from workers.services import accounts, claims, shifts, vetting
from workers.templatetags.names import language_name

LANGUAGE_CHOICES = sorted(
    ((lang.alpha_2, f"{lang.name} ({lang.alpha_2})") for lang in pycountry.languages if hasattr(lang, "alpha_2")),
    key=lambda choice: choice[1],
)
# The apply page's language picker searches by name; the code is what is stored.
APPLY_LANGUAGE_CHOICES = sorted(
    ((lang.alpha_2, lang.name) for lang in pycountry.languages if hasattr(lang, "alpha_2")),
    key=lambda choice: choice[1],
)
COUNTRY_CHOICES = sorted(((c.alpha_2, c.name) for c in pycountry.countries), key=lambda choice: choice[1])
TIMEZONE_CHOICES = [(name, name.replace("_", " ")) for name in sorted(zoneinfo.available_timezones())
                    if "/" in name and not name.startswith(("Etc/", "SystemV/", "US/"))] + [("UTC", "UTC")]


def _skill_choices() -> list[tuple[str, str]]:
    return [(s.code, s.name) for s in Skill.objects.filter(active=True).order_by("code")]


def worker_page(view: Callable) -> Callable:
    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_worker:
            raise PermissionDenied
        worker = selectors.worker_of(request.user)
        if worker is None:
            raise PermissionDenied
        return view(request, worker, *args, **kwargs)

    return wrapper


def approved_worker_page(view: Callable) -> Callable:
    """A page only an approved worker can use (the board, My shifts): anyone else who applied is
    sent to their application status, which says what happens next."""

    @worker_page
    @wraps(view)
    def wrapper(request, worker, *args, **kwargs):
        if worker.status != WorkerStatus.APPROVED:
            return redirect("worker-application-page")
        return view(request, worker, *args, **kwargs)

    return wrapper


def ops_page(view: Callable) -> Callable:
    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_ops:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def _show_domain_error(request, form: forms.Form | None, error: DomainError) -> None:
    if form is not None and error.fields:
        for name, problems in error.fields.items():
            field = name if name in form.fields else None
            for problem in problems:
                form.add_error(field, problem)
    else:
        messages.error(request, error.detail)


# --- Where each person starts -----------------------------------------------------------------


def landing(request):
    """`/`: the marketing page for visitors; a signed-in person goes to their own home."""
    if request.user.is_authenticated:
        target = selectors.home_path(request.user)
        if target != "/":
            return redirect(target)
    return render(request, "home.html")


@worker_page
def application_status(request, worker):
    """What happens next for someone who applied, and what a rejection or suspension means."""
    if worker.status == WorkerStatus.APPROVED:
        return redirect(selectors.home_path(request.user))
    state = selectors.assessment_state(worker=worker)
    return render(request, "workers/application.html", {
        "worker": worker, "decision": selectors.latest_decision(worker_id=worker.pk),
        "assessment_done": worker.assessment_taken_at is not None, "can_take": state["can_take"],
        "next_attempt_at": state.get("next_attempt_at"), "last_attempt": state.get("last_attempt"),
        "notices": selectors.notices_of(worker_id=worker.pk, limit=10),
    })


# --- Applying --------------------------------------------------------------------------------


class ApplyForm(forms.Form):
    full_name = forms.CharField(max_length=200)
    email = forms.EmailField(max_length=254)
    username = forms.RegexField(r"^[\w.@+-]+\Z", max_length=150,
                                error_messages={"invalid": "Use letters, digits and @ . + - _ only."})
    password = forms.CharField(
        max_length=128, strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password", "aria-describedby": "id_password_help"}))
    country = forms.ChoiceField(choices=[("", "Choose your country")] + COUNTRY_CHOICES)
    timezone = forms.ChoiceField(choices=TIMEZONE_CHOICES, initial="UTC")
    # Checkboxes, not a multi-select: no Ctrl-click; the page's script adds a search box.
    languages = forms.MultipleChoiceField(choices=APPLY_LANGUAGE_CHOICES, widget=forms.CheckboxSelectMultiple)
    skills = forms.MultipleChoiceField(choices=[], required=False, widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["skills"].choices = _skill_choices()
        # What the password validators (settings.AUTH_PASSWORD_VALIDATORS) ask for, in their words.
        self.fields["password"].help_text = " ".join(password_validation.password_validators_help_texts())


def apply(request):
    """The public "Work with Shiftline" page."""
    form = ApplyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            worker = accounts.worker_apply(
                username=data["username"], password=data["password"], email=data["email"],
                full_name=data["full_name"], country=data["country"], timezone_name=data["timezone"],
                languages=data["languages"], skills=data["skills"],
            )
        except DomainError as error:
            _show_domain_error(request, form, error)
        else:
            login(request, worker.user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, "Thank you! Your application is in.")
            return redirect("worker-application-page")
    return render(request, "workers/apply.html", {"form": form}, status=400 if form.errors else 200)


@worker_page
def assessment(request, worker):
    state = selectors.assessment_state(worker=worker)
    if request.method == "POST":
        answers = {}
        for question in state["questions"]:
            value = request.POST.get(f"q{question.pk}", "")
            if value.isdigit():
                answers[str(question.pk)] = int(value)
        try:
            attempt = vetting.assessment_submit(worker_id=worker.pk, answers=answers)
        except DomainError as error:
            messages.error(request, error.detail if not error.fields else "Answer every question.")
        else:
            messages.success(request, f"Thank you! You scored {attempt.score:.0f}%. Operations will review "
                                      "your application.")
            return redirect("worker-application-page")
        state = selectors.assessment_state(worker=worker)
    return render(request, "workers/assessment.html", {"worker": worker, **state})


@worker_page
def profile(request, worker):
    return render(request, "workers/profile.html", {
        "worker": worker,
        "languages": worker.language_codes,
        "skill_names": list(Skill.objects.filter(code__in=worker.skill_codes).order_by("name")
                            .values_list("name", flat=True)),
        "priority": selectors.has_priority_access(worker),
        "settings": _priority_settings(),
        "notices": selectors.notices_of(worker_id=worker.pk, limit=10),
    })


def _priority_settings() -> dict:
    conf = settings.SHIFTLINE
    return {"threshold": conf["PRIORITY_MIN_RELIABILITY"],
            "head_start_hours": int(conf["PRIORITY_HEAD_START"].total_seconds() // 3600)}


# --- Shift board and My shifts ---------------------------------------------------------------


class BoardFilter(forms.Form):
    day = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    language = forms.ChoiceField(required=False, choices=[])


@approved_worker_page
def shift_board(request, worker):
    """Shifts the worker may claim, in their own timezone, live seat counts over /ws/shifts/."""
    tz = zoneinfo.ZoneInfo(worker.timezone)
    own_languages = worker.language_codes
    board_filter = BoardFilter(request.GET or None)
    board_filter.fields["language"].choices = [("", "All my languages")] + [
        (code, language_name(code)) for code in own_languages]
    starts_from = starts_before = None
    language = None
    if board_filter.is_valid():
        day = board_filter.cleaned_data.get("day")
        language = board_filter.cleaned_data.get("language") or None
        if day and day < dt.date.max:
            starts_from = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
            starts_before = starts_from + dt.timedelta(days=1)
    board = selectors.shift_board(user=request.user, starts_from=starts_from, starts_before=starts_before,
                                  language=language, current=True, limit=200)
    price = selectors.case_pay_pricer()
    for shift in board:
        shift.seats_left = max(shift.capacity - shift.seats_taken, 0)
        if price is not None:
            # Every amount a surge can reach, so that the page shows money as the rate rises live.
            amounts = {f"{multiplier:.2f}": money_text(*price(multiplier)) for multiplier
                       in shifts.surge_multipliers(shift.rate_multiplier, shift.max_rate_multiplier)}
            shift.pay_per_case, shift.pay_per_case_json = amounts[f"{shift.rate_multiplier:.2f}"], json.dumps(amounts)
    return render(request, "workers/shift_board.html", {
        "worker": worker, "shifts": board, "filter": board_filter, "tz": worker.timezone,
        "approved": worker.status == WorkerStatus.APPROVED, "priority": selectors.has_priority_access(worker),
        "settings": _priority_settings(),
    })


_ACTIONS = {
    "claim": (claims.shift_claim, "You claimed the shift."),
    "release": (claims.shift_release, "You released the shift."),
    "check-in": (claims.shift_check_in, "You are checked in. Open the console to take chats."),
    "check-out": (claims.shift_check_out, "You are checked out. Thank you!"),
    "waitlist": (claims.waitlist_join, "You are on the waitlist; you will get the first free seat."),
    "leave-waitlist": (claims.waitlist_leave, "You left the waitlist."),
}


def _claim_confirmation(worker, claim) -> str:
    """What a worker reads after claiming: which shift, in their timezone, and when to check in."""
    tz = zoneinfo.ZoneInfo(worker.timezone)
    starts, ends = claim.starts_at.astimezone(tz), claim.ends_at.astimezone(tz)
    opens = starts - settings.SHIFTLINE["CHECK_IN_OPENS_BEFORE"]
    return (f"You claimed the shift of {starts:%a %-d %b}, {starts:%H:%M}–{ends:%H:%M} ({worker.timezone}). "
            f"It is on My shifts; check in there from {opens:%H:%M}.")


@require_POST
@worker_page
def shift_action(request, worker, shift_id: int, action: str):
    """The no-JavaScript path of the board's buttons (the script calls the API instead)."""
    if action not in _ACTIONS:
        raise PermissionDenied
    service, done = _ACTIONS[action]
    try:
        result = service(worker_id=worker.pk, shift_id=shift_id)
    except DomainError as error:
        messages.error(request, error.detail)
    else:
        if action == "claim":
            done = _claim_confirmation(worker, result)
        messages.success(request, done)
    target = request.POST.get("next", "")
    return redirect(target if target in ("/shifts/", "/my-shifts/") else "/shifts/")


@approved_worker_page
def my_shifts(request, worker):
    now = timezone.now()
    claims = list(selectors.claims_of(worker_id=worker.pk, statuses=[ClaimStatus.ACTIVE], current=True))
    opens = settings.SHIFTLINE["CHECK_IN_OPENS_BEFORE"]
    price = selectors.case_pay_pricer()
    for claim in claims:
        claim.pay_per_case = money_text(*price(claim.rate_multiplier)) if price is not None else None
        claim.can_check_in = claim.checked_in_at is None and claim.starts_at - opens <= now < claim.ends_at
        claim.can_check_out = claim.checked_in_at is not None
        claim.can_release = claim.checked_in_at is None
    history = list(selectors.claims_of(worker_id=worker.pk).exclude(status=ClaimStatus.ACTIVE)
                   .order_by("-starts_at")[:20])
    return render(request, "workers/my_shifts.html", {
        "worker": worker, "claims": claims, "history": history, "tz": worker.timezone,
        "notices": selectors.notices_of(worker_id=worker.pk, limit=10),
    })


# --- Ops -------------------------------------------------------------------------------------


@ops_page
def ops_vetting(request):
    status = request.GET.get("status", "applied")
    queue = selectors.vetting_queue()
    if status in WorkerStatus.values:
        queue = queue.filter(status=status)
    return render(request, "workers/ops_vetting.html", {
        "workers": list(queue[:200]), "status": status, "statuses": WorkerStatus.choices,
    })


@require_POST
@ops_page
def ops_vetting_decide(request, worker_id: int):
    action = request.POST.get("action", "")
    service = {"approve": vetting.worker_approve, "reinstate": vetting.worker_approve,
               "reject": vetting.worker_reject, "suspend": vetting.worker_suspend}.get(action)
    if service is None:
        raise PermissionDenied
    try:
        worker = service(worker_id=worker_id, actor=request.user, reason=request.POST.get("reason", ""))
    except DomainError as error:
        messages.error(request, error.detail if not error.fields else "Give a reason for this decision.")
    else:
        messages.success(request, f"{worker.full_name} is now {worker.status}.")
    status = request.POST.get("status", "applied")
    return redirect(f"/ops/vetting/?status={status if status in WorkerStatus.values else 'applied'}")


_MINUTE_FORMAT = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends and shows


class ShiftFieldsForm(forms.Form):
    """A shift's own fields, as ops publish or edit it. Times are to the minute, typed and shown in
    the viewer's timezone (the one `ViewerTimezoneMiddleware` activated, which Django's
    DateTimeField reads and writes in); the labels name it."""

    starts_at = forms.DateTimeField(label="Starts", input_formats=[_MINUTE_FORMAT, "%Y-%m-%d %H:%M"],
                                    widget=forms.DateTimeInput(format=_MINUTE_FORMAT, attrs={"type": "datetime-local"}))
    ends_at = forms.DateTimeField(label="Ends", input_formats=[_MINUTE_FORMAT, "%Y-%m-%d %H:%M"],
                                  widget=forms.DateTimeInput(format=_MINUTE_FORMAT, attrs={"type": "datetime-local"}))
    capacity = forms.IntegerField(initial=10)
    language = forms.ChoiceField(choices=LANGUAGE_CHOICES, initial="en")
    skills = forms.MultipleChoiceField(choices=[], required=False, widget=forms.CheckboxSelectMultiple)
    rate_multiplier = forms.DecimalField(max_digits=4, decimal_places=2, initial="1.00")
    max_rate_multiplier = forms.DecimalField(label="Surge cap", max_digits=4, decimal_places=2, required=False)

    def __init__(self, *args, extra_skills: Iterable[tuple[str, str]] = (), **kwargs):
        super().__init__(*args, **kwargs)
        choices = dict(_skill_choices())
        choices.update(extra_skills)  # a shift's own skills stay offered after the catalogue retires them
        cast(forms.MultipleChoiceField, self.fields["skills"]).choices = sorted(choices.items())
        self.zone = timezone.get_current_timezone()
        zone = zone_label(self.zone)
        self.fields["starts_at"].label = f"Starts ({zone})"
        self.fields["ends_at"].label = f"Ends ({zone})"


class ShiftForm(ShiftFieldsForm):
    repeat_weekly = forms.BooleanField(label="Repeat every week", required=False)
    weeks_ahead = forms.IntegerField(label="Publish weeks ahead", min_value=1, max_value=8, initial=2, required=False)


@ops_page
def ops_shifts(request):
    form = ShiftForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        repeat, weeks_ahead = data.pop("repeat_weekly"), data.pop("weeks_ahead") or 2
        try:
            if repeat:  # the same weekday and wall-clock time in the viewer's zone, every week
                starts_at = data.pop("starts_at")
                local = starts_at.astimezone(form.zone)
                template = shifts.shift_template_create(
                    actor=request.user, weekday=local.weekday(), start_time=local.time(),
                    timezone_name=str(getattr(form.zone, "key", "UTC")), duration=data.pop("ends_at") - starts_at,
                    weeks_ahead=weeks_ahead, **data)
                done = f"Weekly shift published {template.shifts.count()} shifts for the next {weeks_ahead} weeks."
            else:
                shift = shifts.shift_create(actor=request.user, **data)
                done = (f"Shift {shift.pk} published: {local_time_text(shift.starts_at, form.zone)} to "
                        f"{local_time_text(shift.ends_at, form.zone, with_date=False)}.")
        except DomainError as error:
            if error.fields and "duration" in error.fields:
                error.fields["ends_at"] = error.fields.pop("duration")
            _show_domain_error(request, form, error)
        else:
            messages.success(request, done)
            return redirect("ops-shifts-page")
    board = list(selectors.ops_shift_board()[:300])
    if (price := selectors.case_pay_pricer()) is not None:
        for shift in board:
            shift.pay_per_case = money_text(*price(shift.rate_multiplier))
    return render(request, "workers/ops_shifts.html", {
        "form": form, "shifts": board,
    }, status=400 if form.errors else 200)


@require_POST
@ops_page
def ops_shift_cancel(request, shift_id: int):
    try:
        shifts.shift_cancel(shift_id=shift_id, actor=request.user, reason=request.POST.get("reason", ""))
    except DomainError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, f"Shift {shift_id} cancelled; its workers were told.")
    return redirect("ops-shifts-page")


def _shift_changes(shift, data: dict) -> dict:
    """What the edit form changes, for `shift_update`: only fields whose value differs, so the
    audit event names what ops changed. Times compare to the minute (all the form shows); a blank
    surge cap means no surge, as when publishing."""
    current_skills = {skill.code for skill in shift.skills.all()}
    changes = {}
    for name in ("starts_at", "ends_at"):
        if data[name] != getattr(shift, name).replace(second=0, microsecond=0):
            changes[name] = data[name]
    for name in ("capacity", "language", "rate_multiplier"):
        if data[name] != getattr(shift, name):
            changes[name] = data[name]
    surge_cap = data["max_rate_multiplier"] if data["max_rate_multiplier"] is not None else data["rate_multiplier"]
    if surge_cap != shift.max_rate_multiplier:
        changes["max_rate_multiplier"] = surge_cap
    if set(data["skills"]) != current_skills:
        changes["skills"] = list(data["skills"])
    return changes


@require_http_methods(["GET", "POST"])
@ops_page
def ops_shift_edit(request, shift_id: int):
    """Edit a shift through `shift_update`; its refusals (someone claimed it, it was cancelled,
    a value out of range) are shown on the form and change nothing."""
    shift = selectors.shifts_visible_to(user=request.user).filter(pk=shift_id).first()
    if shift is None:
        raise Http404
    skills = [(skill.code, skill.name) for skill in shift.skills.all()]
    initial = {"starts_at": shift.starts_at, "ends_at": shift.ends_at, "capacity": shift.capacity,
               "language": shift.language, "skills": [code for code, _ in skills],
               "rate_multiplier": shift.rate_multiplier, "max_rate_multiplier": shift.max_rate_multiplier}
    form = ShiftFieldsForm(request.POST or None, initial=initial, extra_skills=skills)
    status = 200
    if request.method == "POST":
        if not form.is_valid():
            status = 400
        elif not (changes := _shift_changes(shift, form.cleaned_data)):
            messages.info(request, f"Shift {shift.pk}: nothing to change.")
            return redirect("ops-shifts-page")
        else:
            try:
                shifts.shift_update(shift_id=shift.pk, actor=request.user, **changes)
            except DomainError as error:
                if error.fields:
                    _show_domain_error(request, form, error)
                else:
                    form.add_error(None, error.detail)
                status = error.status
            else:
                messages.success(request, f"Shift {shift.pk} updated.")
                return redirect("ops-shifts-page")
    return render(request, "workers/ops_shift_edit.html", {"form": form, "shift": shift}, status=status)
