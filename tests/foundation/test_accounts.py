"""Accounts and security (API.md): hashed expiring tokens, logout, password change, two-factor for
staff, lockout per username, unlocking, the admin role. Over HTTP against real servers."""

from __future__ import annotations

import datetime as dt
import re
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pyotp
import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from kernel.accounts.models import ApiToken
from kernel.accounts.services import totp_provision
from kernel.accounts.tokens import token_digest
from kernel.audit.models import AuditEntry
from tests.factories.accounts import api_token_for
from tests.factories.workers import DEFAULT_PASSWORD, StaffFactory, WorkerFactory
from workers.models import User

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NO_LIMITS = {"RATELIMIT_ENABLE": "false"}


def code(secret: str = SECRET, steps_ahead: int = 0) -> str:
    """The RFC 6238 code (SHA-1, 6 digits, 30 s) `steps_ahead` steps from now (django-otp accepts
    one step of drift and never the same step twice, so a second sign-in uses the next step)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def token_post(server, username, password=DEFAULT_PASSWORD, otp=None, **headers):
    body = {"username": username, "password": password}
    if otp is not None:
        body["otp"] = otp
    return httpx.post(f"{server.url}/api/v1/auth/token/", json=body, headers=headers, timeout=30)


def me(server, token):
    return httpx.get(f"{server.url}/api/v1/auth/me/", headers={"Authorization": f"Token {token}"}, timeout=30)


def page_sign_in(server, username, password=DEFAULT_PASSWORD, otp="", client=None):
    """Sign in through the /login/ page with its CSRF token; returns (client, response)."""
    client = client or httpx.Client(base_url=server.url, timeout=30)
    form = client.get("/login/")
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    response = client.post("/login/", data={"username": username, "password": password, "otp": otp,
                                            "csrfmiddlewaretoken": csrf, "next": "/"})
    return client, response


def audit_actions(username: str) -> list[str]:
    return list(AuditEntry.objects.filter(actor_username=username).order_by("id").values_list("action", flat=True))


# --- Tokens ------------------------------------------------------------------------------------


def test_the_database_holds_only_a_digest_of_each_token(asgi_server):
    worker = WorkerFactory()

    issued = token_post(asgi_server, worker.user.username)

    assert issued.status_code == 200
    key = issued.json()["token"]
    row = ApiToken.objects.get(user=worker.user)
    assert row.digest == token_digest(key) and key not in row.digest
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM accounts_apitoken WHERE digest = %s OR digest LIKE %s",
                       [key, f"%{key}%"])
        assert cursor.fetchone()[0] == 0
    assert me(asgi_server, key).status_code == 200
    assert me(asgi_server, row.digest).status_code == 401  # what the database holds is no token


def test_staff_tokens_expire_after_a_working_day_workers_after_a_month(asgi_server):
    ops, worker = StaffFactory(role="ops"), WorkerFactory()
    before = timezone.now()

    ops_key = token_post(asgi_server, ops.username).json()["token"]
    worker_key = token_post(asgi_server, worker.user.username).json()["token"]

    ops_row, worker_row = ApiToken.objects.get(user=ops), ApiToken.objects.get(user=worker.user)
    assert dt.timedelta(hours=11, minutes=59) < ops_row.expires_at - before <= dt.timedelta(hours=12, minutes=1)
    assert dt.timedelta(days=29, hours=23) < worker_row.expires_at - before <= dt.timedelta(days=30, minutes=1)
    ApiToken.objects.filter(user=ops).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    expired = me(asgi_server, ops_key)
    assert expired.status_code == 401 and expired.json()["code"] == "authentication_failed"
    assert me(asgi_server, worker_key).status_code == 200


def test_logout_revokes_the_token_used_and_only_it(asgi_server):
    worker = WorkerFactory()
    first = token_post(asgi_server, worker.user.username).json()["token"]
    second = token_post(asgi_server, worker.user.username).json()["token"]

    out = httpx.post(f"{asgi_server.url}/api/v1/auth/logout/", headers={"Authorization": f"Token {first}"},
                     timeout=30)

    assert out.status_code == 204
    assert me(asgi_server, first).status_code == 401
    assert me(asgi_server, second).status_code == 200
    again = httpx.post(f"{asgi_server.url}/api/v1/auth/logout/", headers={"Authorization": f"Token {first}"},
                       timeout=30)
    assert again.status_code == 401


def test_a_password_change_revokes_every_token_of_the_user(asgi_server):
    worker, other = WorkerFactory(), WorkerFactory()
    keys = [token_post(asgi_server, worker.user.username).json()["token"] for _ in range(2)]
    other_key = api_token_for(other.user)

    user = User.objects.get(pk=worker.pk)
    user.set_password("a-New-password-2027")
    user.save()

    assert [me(asgi_server, key).status_code for key in keys] == [401, 401]
    assert me(asgi_server, other_key).status_code == 200
    assert token_post(asgi_server, worker.user.username, "a-New-password-2027").status_code == 200
    assert AuditEntry.objects.filter(action="auth.password_change", object_type="workers.user",
                                     object_id=str(worker.pk)).count() == 1


def test_the_admin_password_form_revokes_tokens_too(client):
    """The admin's change-password page goes through the same set_password/save."""
    admin = StaffFactory(role="admin")
    from workers.services.accounts import staff_role_apply

    staff_role_apply(admin)
    target = WorkerFactory()
    key = api_token_for(target.user)
    client.force_login(admin)

    changed = client.post(f"/admin/workers/user/{target.pk}/password/",
                          {"password1": "Fresh-pass-4455", "password2": "Fresh-pass-4455", "usable_password": "true"})

    assert changed.status_code == 302, changed.content[:500]
    assert not ApiToken.objects.filter(digest=token_digest(key)).exists()


def test_an_admin_removing_someones_second_factor_is_in_the_audit_trail(client):
    """A lost phone: the admin deletes the ops user's device (one, then the rest in bulk). Each
    removal changes how someone signs in, so each is an audit entry naming the admin and the owner."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from workers.services.accounts import staff_role_apply

    admin = StaffFactory(role="admin")
    staff_role_apply(admin)
    ops = StaffFactory(role="ops")
    phone = totp_provision(user=ops, secret_base32=SECRET)
    spare = TOTPDevice.objects.create(user=ops, name="spare phone", confirmed=True)
    client.force_login(admin)

    deleted = client.post(f"/admin/otp_totp/totpdevice/{phone.pk}/delete/", {"post": "yes"})
    bulk = client.post("/admin/otp_totp/totpdevice/", {"action": "delete_selected", "_selected_action": [spare.pk],
                                                        "post": "yes"})

    assert deleted.status_code == 302 and bulk.status_code == 302
    assert not TOTPDevice.objects.filter(user=ops).exists()
    entries = list(AuditEntry.objects.filter(action="auth.2fa_device_change").order_by("id"))
    assert [(e.actor_id, e.object_id, e.before["user"], e.after["change"]) for e in entries] == [
        (admin.pk, str(phone.pk), ops.username, "delete"), (admin.pk, str(spare.pk), ops.username, "delete")]
    assert SECRET not in str([e.before for e in entries])


# --- Lockout -------------------------------------------------------------------------------------


def test_five_failures_across_token_endpoint_and_login_page_lock_the_username(asgi_server_factory):
    server = asgi_server_factory(**NO_LIMITS)
    ops = StaffFactory(role="ops")

    api_failures = [token_post(server, ops.username, "wrong").status_code for _ in range(3)]
    page_failures = [page_sign_in(server, ops.username.upper(), "wrong")[1].status_code for _ in range(2)]
    right_api = token_post(server, ops.username)
    _, right_page = page_sign_in(server, ops.username)

    assert api_failures == [400, 400, 400]
    assert page_failures == [200, 200]  # the form again, with its error
    assert right_api.status_code == 429
    assert right_api.json() == {"code": "locked_out", "detail": right_api.json()["detail"]}
    assert "15 minutes" in right_api.json()["detail"]
    assert right_page.status_code == 429 and "Too many failed sign-ins" in right_page.text
    assert "sessionid" not in right_page.cookies
    actions = audit_actions(ops.username.lower())
    assert actions.count("auth.login_failed") == 5
    assert actions.count("auth.locked_out") >= 3  # when it locked, and each refusal after
    assert "auth.login" not in actions
    assert AuditEntry.objects.filter(action="auth.login_failed", ip="127.0.0.1").count() == 5


def test_the_lock_counts_per_username_not_per_address(asgi_server_factory):
    server = asgi_server_factory(TRUSTED_PROXY_COUNT="1", **NO_LIMITS)
    worker, bystander = WorkerFactory(), WorkerFactory()

    for n in range(5):
        token_post(server, worker.user.username, "wrong", **{"X-Forwarded-For": f"203.0.113.{n}"})

    assert token_post(server, worker.user.username, **{"X-Forwarded-For": "198.51.100.9"}).status_code == 429
    assert token_post(server, bystander.user.username, **{"X-Forwarded-For": "203.0.113.1"}).status_code == 200
    # The audit trail has each attempt's address as the trusted proxy saw it.
    assert sorted(AuditEntry.objects.filter(action="auth.login_failed").values_list("ip", flat=True)) == [
        f"203.0.113.{n}" for n in range(5)]


def test_twenty_simultaneous_wrong_passwords_cannot_pass_the_limit(asgi_server_factory):
    servers = [asgi_server_factory(**NO_LIMITS) for _ in range(2)]
    worker = WorkerFactory()

    def attempt(n):
        return token_post(servers[n % 2], worker.user.username, f"wrong-{n}").status_code

    with ThreadPoolExecutor(20) as pool:
        statuses = sorted(pool.map(attempt, range(20)))

    assert statuses == [400] * 5 + [429] * 15
    assert audit_actions(worker.user.username).count("auth.login_failed") == 5
    assert token_post(servers[0], worker.user.username).status_code == 429


def test_ops_unlock_a_username_and_it_signs_in_again(asgi_server_factory):
    server = asgi_server_factory(**NO_LIMITS)
    ops, worker = StaffFactory(role="ops"), WorkerFactory()
    for _ in range(5):
        token_post(server, worker.user.username, "wrong")
    ops_key, worker_key = api_token_for(ops), api_token_for(WorkerFactory().user)

    listed = httpx.get(f"{server.url}/api/v1/auth/locked/", headers={"Authorization": f"Token {ops_key}"}, timeout=30)
    refused = httpx.post(f"{server.url}/api/v1/auth/unlock/", json={"username": worker.user.username},
                         headers={"Authorization": f"Token {worker_key}"}, timeout=30)
    unlocked = httpx.post(f"{server.url}/api/v1/auth/unlock/", json={"username": worker.user.username},
                          headers={"Authorization": f"Token {ops_key}"}, timeout=30)

    assert listed.json() == {"usernames": [worker.user.username]}
    assert refused.status_code == 403
    assert unlocked.status_code == 200
    assert unlocked.json() == {"username": worker.user.username, "locked": False}
    assert token_post(server, worker.user.username).status_code == 200
    entry = AuditEntry.objects.get(action="auth.unlock")
    assert (entry.actor_id, entry.object_id) == (ops.pk, worker.user.username)


def test_ops_unlock_from_the_locked_accounts_page(asgi_server_factory):
    server = asgi_server_factory(**NO_LIMITS)
    ops, worker = StaffFactory(role="ops"), WorkerFactory()
    for _ in range(5):
        token_post(server, worker.user.username, "wrong")
    client, _ = page_sign_in(server, ops.username)

    page = client.get("/ops/locked-accounts/")
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    done = client.post("/ops/locked-accounts/unlock/", data={"username": worker.user.username,
                                                             "csrfmiddlewaretoken": csrf}, follow_redirects=True)

    assert worker.user.username in page.text and "Unlock" in page.text
    assert done.status_code == 200 and "No username is locked out." in done.text
    assert token_post(server, worker.user.username).status_code == 200


# --- Two-factor ----------------------------------------------------------------------------------


def test_staff_enrol_with_setup_and_confirm_then_need_the_code(asgi_server_factory):
    server = asgi_server_factory(STAFF_2FA_REQUIRED="true", **NO_LIMITS)
    finance = StaffFactory(role="finance")
    key = token_post(server, finance.username).json()["token"]
    auth = {"Authorization": f"Token {key}"}

    blocked = httpx.get(f"{server.url}/api/v1/payouts/rate-card/", headers=auth, timeout=30)
    setup = httpx.post(f"{server.url}/api/v1/auth/2fa/setup/", headers=auth, timeout=30)
    secret = setup.json()["secret"]
    wrong = httpx.post(f"{server.url}/api/v1/auth/2fa/confirm/", json={"otp": "000000"}, headers=auth, timeout=30)
    time.sleep(1.2)  # django-otp throttles a device for a second after a failure
    confirmed = httpx.post(f"{server.url}/api/v1/auth/2fa/confirm/", json={"otp": code(secret)}, headers=auth,
                           timeout=30)
    allowed = httpx.get(f"{server.url}/api/v1/payouts/rate-card/", headers=auth, timeout=30)

    assert blocked.status_code == 403 and blocked.json()["code"] == "2fa_enrollment_required"
    assert setup.status_code == 200
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    assert setup.json()["otpauth_url"].startswith(f"otpauth://totp/Shiftline%3A{finance.username}?secret={secret}")
    assert wrong.status_code == 401 and wrong.json()["code"] == "otp_invalid"
    assert confirmed.status_code == 200 and len(confirmed.json()["recovery_codes"]) == 10
    assert allowed.status_code in (200, 404)  # past the two-factor gate (no rate card yet is 404)
    missing = token_post(server, finance.username)
    bad = token_post(server, finance.username, otp="000000")
    time.sleep(1.2)
    good = token_post(server, finance.username, otp=code(secret, 1))
    assert (missing.status_code, missing.json()["code"]) == (401, "otp_required")
    assert (bad.status_code, bad.json()["code"]) == (401, "otp_invalid")
    assert good.status_code == 200
    assert httpx.get(f"{server.url}/api/v1/workers/", headers={"Authorization": f"Token {good.json()['token']}"},
                     timeout=30).status_code == 403  # finance is not ops: the role answers, not 2FA
    actions = audit_actions(finance.username)
    assert {"auth.2fa_setup", "auth.2fa_confirm", "auth.login"} <= set(actions)
    assert actions.count("auth.2fa_failed") == 2  # the wrong code at enrolment and the one at sign-in


def test_unenrolled_staff_may_reach_only_two_factor_and_logout(asgi_server_factory):
    server = asgi_server_factory(STAFF_2FA_REQUIRED="true", **NO_LIMITS)
    ops, worker = StaffFactory(role="ops"), WorkerFactory()
    key = token_post(server, ops.username).json()["token"]
    auth = {"Authorization": f"Token {key}"}

    refused = [httpx.get(f"{server.url}{path}", headers=auth, timeout=30)
               for path in ("/api/v1/auth/me/", "/api/v1/workers/", f"/api/v1/workers/{worker.pk}/")]
    worker_me = me(server, token_post(server, worker.user.username).json()["token"])
    _, page = page_sign_in(server, ops.username)
    out = httpx.post(f"{server.url}/api/v1/auth/logout/", headers=auth, timeout=30)

    assert [(r.status_code, r.json()["code"]) for r in refused] == [(403, "2fa_enrollment_required")] * 3
    assert worker_me.status_code == 200  # workers are not asked for a second factor
    assert page.status_code == 302 and page.headers["location"] == "/"
    assert out.status_code == 204


def test_pages_send_unenrolled_staff_to_the_enrolment_page(asgi_server_factory):
    server = asgi_server_factory(STAFF_2FA_REQUIRED="true", **NO_LIMITS)
    ops = StaffFactory(role="ops")
    client, _ = page_sign_in(server, ops.username)

    vetting = client.get("/ops/vetting/")
    enrol = client.get("/account/2fa/")

    assert vetting.status_code == 302 and vetting.headers["location"] == "/account/2fa/?next=%2Fops%2Fvetting%2F"
    assert enrol.status_code == 200 and "<svg" in enrol.text and 'id="totp-secret"' in enrol.text


def test_a_recovery_code_signs_in_once(asgi_server_factory):
    server = asgi_server_factory(STAFF_2FA_REQUIRED="true", **NO_LIMITS)
    ops = StaffFactory(role="ops")
    key = token_post(server, ops.username).json()["token"]
    auth = {"Authorization": f"Token {key}"}
    secret = httpx.post(f"{server.url}/api/v1/auth/2fa/setup/", headers=auth, timeout=30).json()["secret"]
    codes = httpx.post(f"{server.url}/api/v1/auth/2fa/confirm/", json={"otp": code(secret)}, headers=auth,
                       timeout=30).json()["recovery_codes"]

    first = token_post(server, ops.username, otp=codes[0])
    time.sleep(1.2)
    second = token_post(server, ops.username, otp=codes[0])
    time.sleep(1.2)
    other = token_post(server, ops.username, otp=codes[1].upper())

    assert first.status_code == 200
    assert (second.status_code, second.json()["code"]) == (401, "otp_invalid")
    assert other.status_code == 200


def test_create_staff_with_a_totp_secret_provisions_a_confirmed_device(asgi_server_factory):
    server = asgi_server_factory(STAFF_2FA_REQUIRED="true", **NO_LIMITS)
    call_command("create_staff", "--role", "admin", "--username", "ada", "--password", "s3cret-Admin-99",
                 "--totp-secret", SECRET)

    missing = token_post(server, "ada", "s3cret-Admin-99")
    signed_in = token_post(server, "ada", "s3cret-Admin-99", otp=code())
    reached = me(server, signed_in.json()["token"])

    assert missing.json()["code"] == "otp_required"
    assert reached.status_code == 200 and reached.json()["role"] == "admin"
    ada = User.objects.get(username="ada")
    assert (ada.is_staff, ada.is_superuser) == (True, False)


def test_create_staff_refuses_a_secret_that_is_not_base32():
    with pytest.raises(Exception, match="base32"):
        call_command("create_staff", "--role", "ops", "--username", "oz", "--password", "s3cret-Ops-99",
                     "--totp-secret", "not base32 at all!")

    assert not User.objects.filter(username="oz").exists()


def test_the_admin_site_needs_the_second_factor(asgi_server_factory):
    server = asgi_server_factory(STAFF_2FA_REQUIRED="true", **NO_LIMITS)
    call_command("create_staff", "--role", "admin", "--username", "ada", "--password", "s3cret-Admin-99",
                 "--totp-secret", SECRET)
    call_command("create_staff", "--role", "admin", "--username", "abe", "--password", "s3cret-Admin-99")

    admin_login = httpx.get(f"{server.url}/admin/login/?next=/admin/", timeout=30)
    _, without_code = page_sign_in(server, "ada", "s3cret-Admin-99")
    client, with_code = page_sign_in(server, "ada", "s3cret-Admin-99", otp=code())
    admin_index = client.get("/admin/")
    unenrolled, _ = page_sign_in(server, "abe", "s3cret-Admin-99")
    unenrolled_admin = unenrolled.get("/admin/")

    assert admin_login.status_code == 302 and admin_login.headers["location"] == "/login/?next=%2Fadmin%2F"
    assert without_code.status_code == 200 and "Enter the 6-digit code" in without_code.text
    assert with_code.status_code == 302
    assert admin_index.status_code == 200 and "Site administration" in admin_index.text
    assert unenrolled_admin.status_code == 302 and unenrolled_admin.headers["location"].startswith("/account/2fa/")


def test_a_session_without_the_second_factor_is_kept_out_of_the_admin(client, settings):
    settings.STAFF_2FA_REQUIRED = False
    call_command("create_staff", "--role", "admin", "--username", "ada", "--password", "s3cret-Admin-99",
                 "--totp-secret", SECRET)
    client.force_login(User.objects.get(username="ada"))  # a session that never passed the code

    refused = client.get("/admin/", follow=True)

    assert refused.redirect_chain == [("/admin/login/?next=/admin/", 302)]
    assert refused.status_code == 403  # signed in, but not let in: no sign-in loop either


# --- Tokens on sockets stay out of the logs ------------------------------------------------------


def test_the_socket_token_never_reaches_the_server_log(transactional_db):
    import asyncio
    import sys

    from websockets.asyncio.client import connect

    from tests.servers import AsgiServer, Process, free_port, server_env

    worker = WorkerFactory()
    key = api_token_for(worker.user)
    port = free_port()
    server = Process([sys.executable, "-m", "uvicorn", "marketplace.asgi:application", "--host", "127.0.0.1",
                      "--port", str(port), "--lifespan", "off", "--no-proxy-headers", "--ws", "websockets-sansio"],
                     server_env(), "asgi-access-log")
    try:
        AsgiServer.wait_ready(server_shim(server, port))

        async def visit():
            async with connect(f"ws://127.0.0.1:{port}/ws/agent/?token={key}") as socket:
                await asyncio.wait_for(socket.recv(), 5)

        try:
            asyncio.run(visit())
        except Exception:  # noqa: BLE001 - what the socket answers is not this test's concern
            pass
        httpx.get(f"http://127.0.0.1:{port}/api/v1/tickets/?token={key}", timeout=30)
        time.sleep(0.5)
        log = server.log()
    finally:
        server.stop()

    assert "/ws/agent/?token=[redacted]" in log
    assert "/api/v1/tickets/?token=[redacted]" in log
    assert key not in log


def server_shim(process, port):
    """`AsgiServer.wait_ready` for a process started with uvicorn's access log on."""
    process.port, process.url = port, f"http://127.0.0.1:{port}"
    return process


# --- Sockets follow the same two-factor rule --------------------------------------------------------


def test_the_ops_board_socket_needs_the_second_factor_too(asgi_server_factory):
    import asyncio

    from tests.tickets.wsclient import connect, recv, refused

    server = asgi_server_factory(STAFF_2FA_REQUIRED="true", **NO_LIMITS)
    ops = StaffFactory(role="ops")
    unverified, verified = api_token_for(ops), api_token_for(ops, otp_verified=True)
    enrolled = StaffFactory(role="ops")
    totp_provision(user=enrolled, secret_base32=SECRET)
    session_client, _ = page_sign_in(server, ops.username)  # password only: enrolment still due
    cookie = f"sessionid={session_client.cookies['sessionid']}"
    enrolled_client, _ = page_sign_in(server, enrolled.username, otp=code())
    enrolled_cookie = f"sessionid={enrolled_client.cookies['sessionid']}"
    board = f"{server.ws_url}/ws/ops/live/"

    async def scenario():
        refused_token = await refused(f"{board}?token={unverified}")
        refused_session = await refused(board, additional_headers={"Cookie": cookie})
        async with connect(f"{board}?token={verified}") as socket:
            by_token = await recv(socket)
        async with connect(board, additional_headers={"Cookie": enrolled_cookie}) as socket:
            by_session = await recv(socket)
        return refused_token, refused_session, by_token["type"], by_session["type"]

    assert asyncio.run(scenario()) == (403, 403, "live_board", "live_board")


def test_an_admin_cannot_make_anyone_a_superuser_in_the_admin(client):
    from workers.services.accounts import staff_role_apply

    admin = StaffFactory(role="admin")
    staff_role_apply(admin)
    target = WorkerFactory().user
    client.force_login(admin)

    form = client.get(f"/admin/workers/user/{target.pk}/change/")
    client.post(f"/admin/workers/user/{target.pk}/change/", {
        "username": target.username, "email": "new@example.com", "is_active": "on", "is_superuser": "on",
        "is_staff": "on", "role": "admin", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00"})

    assert form.status_code == 200
    target.refresh_from_db()
    admin.refresh_from_db()
    assert (target.email, target.is_superuser, target.is_staff, target.role) == ("new@example.com", False, False,
                                                                                "worker")
    assert not admin.is_superuser
