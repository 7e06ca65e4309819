"""Accounts endpoints: logout, two-factor setup and confirmation, unlocking a username."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from kernel.accounts import schema, services
from kernel.accounts.models import ApiToken
from kernel.accounts.tokens import token_mark_verified, token_revoke
from kernel.audit.models import AuditAction
from kernel.audit.services import record

__all__ = ["schema"]  # imported for its OpenAPI extension (session authentication)


class IsUnlocker(BasePermission):
    message = "Only operations staff and admins can unlock accounts."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated
                    and getattr(request.user, "role", "") in ("ops", "admin"))


class LogoutView(APIView):
    """Revoke the token this request was made with (204). A session is signed out instead."""

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        if isinstance(request.auth, ApiToken):
            token_revoke(request.auth.digest)
        else:
            from django.contrib.auth import logout

            logout(request)
        record(AuditAction.AUTH_LOGOUT, request=request, actor=request.user)
        return Response(status=204)


class OtpInput(serializers.Serializer):
    otp = serializers.CharField(max_length=32)


class TwoFactorSetupView(APIView):
    @extend_schema(request=None, responses=inline_serializer("TwoFactorSetup", {
        "secret": serializers.CharField(), "otpauth_url": serializers.CharField()}))
    def post(self, request):
        device = services.totp_setup(user=request.user, request=request)
        return Response({"secret": services.device_secret(device), "otpauth_url": services.otpauth_url(device)})


class TwoFactorConfirmView(APIView):
    @extend_schema(request=OtpInput, responses=inline_serializer("TwoFactorConfirmed", {
        "confirmed": serializers.BooleanField(),
        "recovery_codes": serializers.ListField(child=serializers.CharField())}))
    def post(self, request):
        data = OtpInput(data=request.data)
        data.is_valid(raise_exception=True)
        device, codes = services.totp_confirm(user=request.user, otp=data.validated_data["otp"], request=request)
        if isinstance(request.auth, ApiToken):
            # This token just proved the second factor: it keeps working once enrolment is required.
            token_mark_verified(request.auth.digest)
        else:
            from django_otp import login as otp_login

            otp_login(request, device)
        return Response({"confirmed": True, "recovery_codes": codes})


class UsernameInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)


class UnlockView(APIView):
    permission_classes = [IsUnlocker]

    @extend_schema(request=UsernameInput, responses=inline_serializer("Unlocked", {
        "username": serializers.CharField(), "locked": serializers.BooleanField()}))
    def post(self, request):
        data = UsernameInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.account_unlock(username=data.validated_data["username"], request=request)
        return Response({"username": services.lockout_username(data.validated_data["username"]), "locked": False})


class LockedListView(APIView):
    permission_classes = [IsUnlocker]

    @extend_schema(responses=inline_serializer("Locked", {"usernames": serializers.ListField(
        child=serializers.CharField())}))
    def get(self, request):
        return Response({"usernames": services.locked_usernames()})
