from django.contrib import admin

from tickets.models import CannedResponse, Ticket, TicketEvent


@admin.register(CannedResponse)
class CannedResponseAdmin(admin.ModelAdmin):
    """Read-only here: ops manage canned responses on /ops/canned-responses/, through the service
    that checks their placeholders (`tickets.canned_responses`)."""

    list_display = ("title", "language", "topic", "active")
    list_filter = ("active", "language", "topic")
    search_fields = ("title", "body")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TicketEventInline(admin.TabularInline):
    model = TicketEvent
    extra = 0
    can_delete = False
    readonly_fields = ("kind", "worker", "actor", "reason", "data", "created_at")


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = ("id", "status", "language", "topic", "assigned_worker", "created_at", "rating")
    list_filter = ("status", "language", "topic")
    search_fields = ("customer_email", "customer_name")
    readonly_fields = [f.name for f in Ticket._meta.fields]
    inlines = [TicketEventInline]

    def has_add_permission(self, request):
        return False
