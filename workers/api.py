"""HTTP interface of the workers app: parse, call one service or selector, render."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.api import ScopedThrottle
from workers.services import auth_token_issue


class AuthTokenInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=1000, trim_whitespace=False)


class UserOutput(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    role = serializers.CharField()


class AuthTokenView(APIView):
    """Exchange a username and password for an API token."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedThrottle]
    throttle_scope = "auth_token"

    @extend_schema(
        request=AuthTokenInput,
        responses=inline_serializer("AuthToken", {"token": serializers.CharField(), "user": UserOutput()}),
    )
    def post(self, request):
        data = AuthTokenInput(data=request.data)
        data.is_valid(raise_exception=True)
        token, user = auth_token_issue(**data.validated_data)
        return Response({"token": token.key, "user": UserOutput(user).data})
