"""`GET /api/v1/auth/me/`: who the caller is, whichever way they signed in (token or session)."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from workers.api import UserOutput


class MeView(APIView):
    @extend_schema(responses=UserOutput)
    def get(self, request):
        return Response(UserOutput(request.user).data)
