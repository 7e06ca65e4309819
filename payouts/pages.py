"""Server-rendered pages of the payouts app: the worker's earnings and statement, finance's rate
card and payout runs. They call the same services and selectors as the API."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Sum
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_http_methods, require_POST

from kernel.errors import DomainError
from kernel.presentation.formatting import money_parse, money_text
from payouts import selectors
from payouts.api import RateCardInput
from payouts.models import (
    AccountKind,
    JournalKind,
    JournalLine,
    Payout,
    PayoutStatus,
    RateCard,
)
from payouts.rate_card import rate_card_current, rate_card_update
from payouts.runs import SkipReason, payout_run_start, payout_runs_stats
from payouts.stripe_connect import payout_account_onboarding_url
from workers.models import PayoutAccountStatus, Worker, WorkerStatus

OWED_KINDS = (AccountKind.WORKER_PENDING, AccountKind.WORKER_AVAILABLE, AccountKind.WORKER_IN_TRANSIT)


def _worker_or_403(request) -> Worker:
    if not request.user.is_worker:
        raise PermissionDenied
    worker = Worker.objects.select_related("user").filter(pk=request.user.pk).first()
    if worker is None:
        raise PermissionDenied
    return worker


def _finance_or_403(request) -> None:
    if not request.user.is_finance:
        raise PermissionDenied


def _hold_reason(worker: Worker, balance: dict, minimum: int) -> str:
    status = worker.payout_account_status
    if status == PayoutAccountStatus.NONE:
        return "Payouts are held: connect a Stripe payout account to receive your earnings."
    if status == PayoutAccountStatus.PENDING:
        return "Payouts are held: finish your Stripe onboarding (the link below resumes it)."
    if status == PayoutAccountStatus.RESTRICTED:
        return ("Payouts are held: Stripe has restricted your account. Open the onboarding link "
                "below to provide what Stripe asks for.")
    if balance["available"] < minimum:
        return "Your available balance is below the minimum payout; it is paid in a later run."
    return ""


@login_required
def earnings(request):
    worker = _worker_or_403(request)
    if worker.status in (WorkerStatus.APPLIED, WorkerStatus.REJECTED):
        return redirect("worker-application-page")  # nothing earned before approval
    card = rate_card_current()
    balance = selectors.balance_for_worker(worker, card.currency)
    earnings_list = list(selectors.earnings_visible_to(request.user).select_related("ticket")[:100])
    payouts = list(selectors.payouts_visible_to(request.user)[:50])
    today = dt.date.today()
    return render(request, "payouts/earnings.html", {
        "worker": worker, "card": card, "balance": balance, "earnings": earnings_list, "payouts": payouts,
        "hold_reason": _hold_reason(worker, balance, card.minimum_payout),
        "this_month": f"{today:%Y-%m}",
        "onboarding_returned": request.GET.get("onboarding") == "returned",
    })


def _month(value: str | None) -> dt.date:
    try:
        return dt.datetime.strptime(value or "", "%Y-%m").date().replace(day=1)
    except ValueError:
        return dt.date.today().replace(day=1)


def statement_figures(worker: Worker, month: dt.date, currency: str) -> dict:
    """Opening balance, the month's movements by kind and the closing balance of what Shiftline
    owes the worker (pending + available + in transit), from the ledger lines, in SQL."""
    start = dt.datetime.combine(month, dt.time.min, tzinfo=dt.UTC)
    end = dt.datetime.combine((month + dt.timedelta(days=32)).replace(day=1), dt.time.min, tzinfo=dt.UTC)
    lines = JournalLine.objects.filter(account__worker=worker, account__kind__in=OWED_KINDS,
                                       account__currency=currency)
    opening = lines.filter(transaction__created_at__lt=start).aggregate(total=Sum("amount"))["total"] or 0
    by_kind = dict(lines.filter(transaction__created_at__gte=start, transaction__created_at__lt=end)
                   .values_list("transaction__kind").annotate(total=Sum("amount")))
    figures = {
        "earnings": by_kind.get(JournalKind.CASE_PAY, 0),
        "bonuses": by_kind.get(JournalKind.CSAT_BONUS, 0),
        "voids": by_kind.get(JournalKind.VOID, 0),
        "payouts": by_kind.get(JournalKind.PAYOUT_PAID, 0),
        "reversals": by_kind.get(JournalKind.PAYOUT_REVERSED, 0),
        "adjustments": by_kind.get(JournalKind.ADJUSTMENT, 0),
    }
    figures["opening"] = opening
    figures["closing"] = opening + sum(by_kind.values())
    return figures


# The statement's summary, in order, as (key of `statement_figures`, label): the page and the PDF
# both show these rows, so they cannot drift apart.
STATEMENT_LINES = (
    ("opening", "Opening balance"),
    ("earnings", "Case pay earned"),
    ("bonuses", "CSAT bonuses"),
    ("voids", "Voided (reopened cases)"),
    ("adjustments", "Adjustments"),
    ("payouts", "Payouts to Stripe"),
    ("reversals", "Reversed transfers returned"),
    ("closing", "Closing balance"),
)


@login_required
def statement(request):
    """The signed-in worker's own statement of `?month=YYYY-MM` (this month when missing or
    malformed); `&format=pdf` downloads the same statement as a PDF. Only a worker has one: there
    is no worker in the URL, so nobody can ask for someone else's."""
    worker = _worker_or_403(request)
    card = rate_card_current()
    month = _month(request.GET.get("month"))
    figures = statement_figures(worker, month, card.currency)
    summary = [(key, label, figures[key]) for key, label in STATEMENT_LINES]
    start = dt.datetime.combine(month, dt.time.min, tzinfo=dt.UTC)
    end = dt.datetime.combine((month + dt.timedelta(days=32)).replace(day=1), dt.time.min, tzinfo=dt.UTC)
    month_earnings = (selectors.earnings_visible_to(request.user)
                      .filter(created_at__gte=start, created_at__lt=end).order_by("created_at", "pk"))
    month_payouts = (Payout.objects.filter(worker=worker, status=PayoutStatus.PAID, paid_at__gte=start,
                                           paid_at__lt=end).order_by("paid_at", "pk"))
    if request.GET.get("format") == "pdf":
        # Imported here: reportlab takes a quarter of a second to import, and only this needs it.
        from payouts.statement_pdf import statement_pdf

        content = statement_pdf(worker=worker, month=month, currency=card.currency, summary=summary,
                                earnings=month_earnings, payouts=month_payouts)
        response = HttpResponse(content, content_type="application/pdf", headers={
            "Content-Disposition": content_disposition_header(
                as_attachment=True, filename=f"shiftline-statement-{month:%Y-%m}-worker-{worker.pk}.pdf"),
        })
        patch_cache_control(response, private=True, no_store=True)
        return response
    previous = (month - dt.timedelta(days=1)).replace(day=1)
    following = (month + dt.timedelta(days=32)).replace(day=1)
    return render(request, "payouts/statement.html", {
        "worker": worker, "currency": card.currency, "month": month, "figures": figures, "summary": summary,
        "earnings": month_earnings, "payouts": month_payouts,
        "previous": f"{previous:%Y-%m}", "following": f"{following:%Y-%m}",
    })


def _to_onboarding(request, worker: Worker):
    try:
        return redirect(payout_account_onboarding_url(
            worker=worker,
            refresh_url=request.build_absolute_uri(reverse("payout-account-refresh")),
            return_url=request.build_absolute_uri(reverse("earnings") + "?onboarding=returned"),
        ))
    except DomainError as exc:
        messages.error(request, exc.detail)
        return redirect("earnings")


@login_required
@require_POST
def payout_account_connect(request):
    return _to_onboarding(request, _worker_or_403(request))


@login_required
def payout_account_refresh(request):
    """Stripe's `refresh_url`: the link expired or was used; make a fresh one and go there."""
    worker = _worker_or_403(request)
    return _to_onboarding(request, worker) if worker.stripe_account_id else redirect("earnings")


MONEY_FIELDS = ("base_per_case", "csat_bonus", "minimum_payout")


def rate_card_form_values(post) -> tuple[dict, dict]:
    """The rate card form's fields as the API takes them: amounts typed in money ("12.50") become
    minor units of the typed currency (by `money_parse`, the one conversion); a field that does not
    read as money gets its error here, by name."""
    data = {name: post.get(name, "") for name in ("currency", "hold_hours", "reason")}
    currency = str(data["currency"]).strip().lower() or "eur"
    errors: dict[str, list[str]] = {}
    for name in MONEY_FIELDS:
        try:
            data[name] = money_parse(post.get(name, ""), currency)
        except ValueError as exc:
            errors[name] = [str(exc)]
    return data, errors


@login_required
@require_http_methods(["GET", "POST"])
def finance_rate_card(request):
    _finance_or_403(request)
    card = rate_card_current()
    errors: dict = {}
    if request.method == "POST":
        data, errors = rate_card_form_values(request.POST)
        form = RateCardInput(data=data)
        if form.is_valid() and not errors:
            try:
                new = rate_card_update(actor=request.user, **form.validated_data)
            except DomainError as exc:
                messages.error(request, exc.detail)
            else:
                messages.success(request, f"Rate card version {new.version} is now in force.")
                return redirect("finance-rate-card")
        else:
            errors = {**{name: [str(e) for e in errs] for name, errs in form.errors.items()
                         if name not in errors}, **errors}
    history = list(RateCard.objects.select_related("change__previous", "created_by").order_by("-version")[:50])
    return render(request, "payouts/finance_rate_card.html", {
        "card": card, "errors": errors, "values": request.POST if request.method == "POST" else None,
        "history": [(c, rate_card_change_text(c)) for c in history],
    })


RATE_CARD_LABELS = {"currency": "currency", "base_per_case": "per case", "csat_bonus": "bonus",
                    "hold_hours": "hold (h)", "minimum_payout": "minimum"}


def rate_card_change_text(card: RateCard) -> str:
    """"per case: EUR 5.00 → EUR 6.00; hold (h): 72 → 48": what this version changed."""
    change = getattr(card, "change", None)
    if change is None:
        return ""
    before = change.previous.currency if change.previous else card.currency
    parts = []
    for name, (old, new) in change.changes.items():
        if name in MONEY_FIELDS:
            old, new = money_text(old, before), money_text(new, card.currency)
        parts.append(f"{RATE_CARD_LABELS.get(name, name)}: {old} → {new}")
    return "; ".join(parts)


def skip_reason_text(row: dict) -> str:
    """A worker's line under "Left out of this run", in words finance can act on."""
    currency = row.get("currency", "eur")
    reason = row["reason"]
    if reason == SkipReason.NOTHING_AVAILABLE:
        return "Nothing available: no earnings have finished their hold since the last payout."
    if reason == SkipReason.NO_READY_PAYOUT_ACCOUNT:
        return ("No ready payout account: the worker has not finished Stripe onboarding "
                "(their Earnings page has the link).")
    if reason == SkipReason.BELOW_MINIMUM:
        return (f"Below the minimum payout: {money_text(row['available'], currency)} available, "
                f"{money_text(row['minimum'], currency)} needed. It is paid in a later run.")
    return "A payout from another run is still on its way; this balance goes in a later run."


@login_required
@require_http_methods(["GET", "POST"])
def finance_payouts(request):
    _finance_or_403(request)
    if request.method == "POST":  # without JavaScript: start a run and come back to it
        run = payout_run_start(actor=request.user, trigger="manual")
        return redirect(f"{reverse('finance-payouts')}?run={run.pk}")
    runs = list(selectors.payout_runs()[:20])
    focus_id = request.GET.get("run", "")
    focus = None
    if focus_id.isdigit():
        focus = next((run for run in runs if run.pk == int(focus_id)), None) or \
            selectors.payout_runs().filter(pk=int(focus_id)).first()
    stats = payout_runs_stats([run.pk for run in runs] + ([focus.pk] if focus else []))
    status = request.GET.get("status", "")
    payouts = Payout.objects.select_related("worker").order_by("-created_at", "-pk")
    if status in PayoutStatus.values:
        payouts = payouts.filter(status=status)
    return render(request, "payouts/finance_payouts.html", {
        "runs": [{"run": run, **stats[run.pk]} for run in runs],
        "focus": {"run": focus, **stats[focus.pk],
                  "skipped": [{**row, "text": skip_reason_text(row)} for row in focus.skipped]} if focus else None,
        "payouts": payouts[:100], "status": status, "statuses": PayoutStatus.values,
    })
