from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from workers.models import (
    AssessmentAttempt,
    AssessmentQuestion,
    Shift,
    ShiftClaim,
    ShiftEvent,
    ShiftTemplate,
    Skill,
    User,
    Worker,
    WorkerEvent,
)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "role", "is_active")
    list_filter = ("role", "is_active")
    fieldsets = (*(BaseUserAdmin.fieldsets or ()), ("Shiftline", {"fields": ("role",)}))


@admin.register(Skill)
class SkillAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "active")


@admin.register(Worker)
class WorkerAdmin(admin.ModelAdmin):
    list_display = ("user", "full_name", "status", "country", "assessment_score", "reliability_score",
                    "payout_account_status")
    list_filter = ("status", "payout_account_status")
    # Status changes go through the vetting services (audit events, claims, outbox), not the admin.
    readonly_fields = ("status", "status_changed_at", "reliability_score", "assessment_score",
                       "assessment_taken_at")


@admin.register(Shift)
class ShiftAdmin(admin.ModelAdmin):
    list_display = ("id", "starts_at", "ends_at", "language", "capacity", "seats_taken", "rate_multiplier", "status")
    readonly_fields = ("seats_taken", "rate_multiplier", "status")

    def get_queryset(self, request):
        return super().get_queryset(request).with_seats_taken()


@admin.register(AssessmentQuestion)
class AssessmentQuestionAdmin(admin.ModelAdmin):
    list_display = ("position", "prompt", "correct_choice", "active")
    list_editable = ("active",)
    list_display_links = ("prompt",)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Append-only records: visible to staff, never edited by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AssessmentAttempt)
class AssessmentAttemptAdmin(ReadOnlyAdmin):
    list_display = ("worker", "score", "correct", "total", "submitted_at")


@admin.register(WorkerEvent)
class WorkerEventAdmin(ReadOnlyAdmin):
    list_display = ("worker", "kind", "actor", "from_status", "to_status", "created_at")
    list_filter = ("kind",)


@admin.register(ShiftEvent)
class ShiftEventAdmin(ReadOnlyAdmin):
    list_display = ("shift", "kind", "actor", "created_at")
    list_filter = ("kind",)


@admin.register(ShiftClaim)
class ShiftClaimAdmin(ReadOnlyAdmin):
    list_display = ("id", "shift", "worker", "status", "rate_multiplier", "checked_in_at", "checked_out_at")
    list_filter = ("status",)


@admin.register(ShiftTemplate)
class ShiftTemplateAdmin(admin.ModelAdmin):
    list_display = ("id", "weekday", "start_time", "timezone", "duration", "capacity", "language", "active")
