import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _production_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECURE_SSL_REDIRECT",
                                                           "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
                                                           "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env.update({
        "DJANGO_SETTINGS_MODULE": "marketplace.settings",
        "SECRET_KEY": "prod-like-" + "x7Qp2Lm9Zr4Tv8Wn1Ks6Hd3Fg5Jb0Yc" * 2,
        "DEBUG": "false",
        "ALLOWED_HOSTS": "shiftline.example.com",
        "STRIPE_WEBHOOK_SECRET": "whsec_" + "k3Jd8Qm2Zp5Rt7Vx" * 2,
        "STRIPE_SECRET_KEY": "sk_live_" + "a1B2c3D4e5F6g7H8" * 2,
    })
    env.pop("STRIPE_API_BASE", None)
    env.update(extra)
    return env


def test_check_deploy_is_clean_under_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=_production_env(), capture_output=True, text=True, timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_mode_refuses_to_start_without_secret_key():
    env = _production_env()
    env.pop("SECRET_KEY")

    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def _check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("secret", ["", "whsec_shiftline_sandbox"])
def test_check_deploy_fails_with_the_public_sandbox_webhook_secret(secret):
    result = _check_deploy(_production_env(STRIPE_WEBHOOK_SECRET=secret))

    assert result.returncode != 0
    assert "payouts.E001" in result.stderr
    assert "payouts.E002" not in result.stderr


def test_check_deploy_fails_with_the_sandbox_key_against_a_real_stripe():
    env = _production_env(STRIPE_SECRET_KEY="sk_test_shiftline_sandbox")

    against_stripe = _check_deploy(env)
    against_remote_base = _check_deploy({**env, "STRIPE_API_BASE": "https://stripe-proxy.example.com"})
    against_local_sandbox = _check_deploy({**env, "STRIPE_API_BASE": "http://127.0.0.1:12111"})

    assert against_stripe.returncode != 0 and "payouts.E002" in against_stripe.stderr
    assert against_remote_base.returncode != 0 and "payouts.E002" in against_remote_base.stderr
    assert against_local_sandbox.returncode == 0, against_local_sandbox.stderr


def test_debug_mode_keeps_the_sandbox_defaults():
    env = _production_env(DEBUG="true", STRIPE_WEBHOOK_SECRET="whsec_shiftline_sandbox",
                          STRIPE_SECRET_KEY="sk_test_shiftline_sandbox")

    result = _check_deploy(env)

    assert "payouts.E00" not in result.stderr
