from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from workers.models import Shift, Skill, User, Worker


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "role", "is_active")
    list_filter = ("role", "is_active")
    fieldsets = (*BaseUserAdmin.fieldsets, ("Shiftline", {"fields": ("role",)}))


@admin.register(Skill)
class SkillAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "active")


@admin.register(Worker)
class WorkerAdmin(admin.ModelAdmin):
    list_display = ("user", "full_name", "status", "country", "payout_account_status")
    list_filter = ("status", "payout_account_status")


@admin.register(Shift)
class ShiftAdmin(admin.ModelAdmin):
    list_display = ("id", "starts_at", "ends_at", "language", "capacity", "seats_taken", "status")
