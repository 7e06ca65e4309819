"""django-otp's device admins, audited: a device added, edited or deleted by an admin is a change
to how someone signs in, so each is an `auth.2fa_device_change` entry (never the secret)."""

from __future__ import annotations

from django.contrib import admin
from django_otp.plugins.otp_static.admin import StaticDeviceAdmin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from kernel.audit.models import AuditAction
from kernel.audit.services import record


def _device_state(device) -> dict:
    return {"kind": device._meta.model_name, "user": device.user.username, "name": device.name,
            "confirmed": device.confirmed}


class AuditedDeviceAdmin(admin.ModelAdmin):
    """Records every change the admin makes, in the admin's own transaction."""

    def save_model(self, request, obj, form, change):
        before = _device_state(type(obj).objects.get(pk=obj.pk)) if change else None
        super().save_model(request, obj, form, change)
        record(AuditAction.AUTH_2FA_DEVICE_CHANGE, request=request, target=obj, before=before,
               after={**_device_state(obj), "change": "edit" if change else "add"})

    def delete_model(self, request, obj):
        record(AuditAction.AUTH_2FA_DEVICE_CHANGE, request=request, target=obj, before=_device_state(obj),
               after={"change": "delete"})
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for device in queryset.select_related("user"):
            record(AuditAction.AUTH_2FA_DEVICE_CHANGE, request=request, target=device,
                   before=_device_state(device), after={"change": "delete"})
        super().delete_queryset(request, queryset)


class AuditedTOTPDeviceAdmin(AuditedDeviceAdmin, TOTPDeviceAdmin):
    pass


class AuditedStaticDeviceAdmin(AuditedDeviceAdmin, StaticDeviceAdmin):
    pass


for model, model_admin in ((TOTPDevice, AuditedTOTPDeviceAdmin), (StaticDevice, AuditedStaticDeviceAdmin)):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, model_admin)
