import pytest
from django.core.management import CommandError, call_command

from kernel.accounts.models import ApiToken
from kernel.accounts.tokens import token_digest
from tests.factories.workers import DEFAULT_PASSWORD
from workers.models import User

pytestmark = pytest.mark.django_db


def test_token_issued_for_good_credentials_and_then_accepted(api_client, ops_user):
    response = api_client.post(
        "/api/v1/auth/token/", {"username": ops_user.username, "password": DEFAULT_PASSWORD}, format="json"
    )

    assert response.status_code == 200
    body = response.json()
    assert body["user"] == {"id": ops_user.pk, "username": ops_user.username, "role": "ops"}
    assert ApiToken.objects.get(user=ops_user).digest == token_digest(body["token"])

    api_client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    me = api_client.get("/api/v1/auth/me/")
    assert me.status_code == 200
    assert me.json() == {"id": ops_user.pk, "username": ops_user.username, "role": "ops"}


def test_token_refused_for_wrong_password_in_error_shape(api_client, ops_user):
    response = api_client.post(
        "/api/v1/auth/token/", {"username": ops_user.username, "password": "not-the-password"}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid_credentials",
        "detail": "Unable to sign in with that username and password.",
    }
    assert not ApiToken.objects.filter(user=ops_user).exists()


def test_token_refused_for_inactive_user(api_client, ops_user):
    ops_user.is_active = False
    ops_user.save(update_fields=["is_active"])

    response = api_client.post(
        "/api/v1/auth/token/", {"username": ops_user.username, "password": DEFAULT_PASSWORD}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_credentials"


def test_session_login_is_accepted_by_the_api(api_client, finance_user):
    signed_in = api_client.post("/login/", {"username": finance_user.username, "password": DEFAULT_PASSWORD},
                                format="multipart")
    assert signed_in.status_code == 302

    response = api_client.get("/api/v1/auth/me/")

    assert response.status_code == 200
    assert response.json()["role"] == "finance"


def test_bad_token_is_401(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")

    response = api_client.get("/api/v1/auth/me/")

    assert response.status_code == 401
    assert response.json() == {"code": "authentication_failed", "detail": "Invalid token."}


def test_create_staff_makes_an_account_that_can_sign_in(api_client):
    call_command("create_staff", "--role", "finance", "--username", "fiona", "--password", "s3cret-Ledger-99",
                 "--email", "fiona@example.com")

    user = User.objects.get(username="fiona")
    assert (user.role, user.email, user.is_superuser) == ("finance", "fiona@example.com", False)
    response = api_client.post("/api/v1/auth/token/", {"username": "fiona", "password": "s3cret-Ledger-99"},
                               format="json")
    assert response.status_code == 200
    assert response.json()["user"]["role"] == "finance"


def test_create_staff_admin_gets_django_admin_access_but_is_not_a_superuser():
    call_command("create_staff", "--role", "admin", "--username", "ada", "--password", "s3cret-Admin-99")

    user = User.objects.get(username="ada")
    assert (user.role, user.is_staff, user.is_superuser) == ("admin", True, False)
    assert list(user.groups.values_list("name", flat=True)) == ["Shiftline admins"]
    assert user.has_perm("workers.change_user") and user.has_perm("payouts.view_payout")
    assert not user.has_perm("payouts.change_payout") and not user.has_perm("audit.delete_auditentry")


def test_create_staff_refuses_a_taken_username_and_changes_nothing(ops_user):
    with pytest.raises(CommandError, match="username is taken"):
        call_command("create_staff", "--role", "ops", "--username", ops_user.username, "--password", "x-Long-pass-1")

    assert User.objects.filter(username=ops_user.username).count() == 1
    ops_user.refresh_from_db()
    assert ops_user.check_password(DEFAULT_PASSWORD)


def test_create_staff_refuses_worker_role():
    with pytest.raises(CommandError):
        call_command("create_staff", "--role", "worker", "--username", "w", "--password", "x-Long-pass-1")

    assert not User.objects.filter(username="w").exists()
