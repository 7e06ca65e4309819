"""An embedding site passes its signed-in customer's signed id on the widget tag: in a real browser
on another origin, the widget sends it, the server verifies it, and the worker console's history
finds that customer's earlier ticket; a tag with a forged signature opens no chat."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.factories.workers import DEFAULT_PASSWORD, StaffFactory
from tests.servers import free_port
from tickets.identity import customer_signature
from tickets.models import Ticket

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SECRET = "shop-widget-secret-5d1e"


def embedding_site(widget_src: str, customer_id: str, signature: str):
    page = (f'<!doctype html><html lang="en"><head><title>Shop</title></head><body><main><h1>Shop</h1>'
            f'<div id="shiftline-chat"></div><script src="{widget_src}" data-mode="inline" '
            f'data-customer-id="{customer_id}" data-customer-signature="{signature}" defer></script>'
            f'</main></body></html>').encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def start_chat(browser, site_url: str, message: str):
    context = browser.new_context()
    page = context.new_page()
    page.goto(site_url)
    page.get_by_label("Your name").fill("Carla")
    page.get_by_label("Email").fill("carla@example.com")
    page.get_by_label("How can we help?").fill(message)
    with page.expect_response(lambda r: r.url.endswith("/api/v1/tickets/") and r.request.method == "POST") as info:
        page.get_by_role("button", name="Start chat").click()
    status = info.value.status
    context.close()
    return status


def test_the_widget_carries_the_sites_signed_customer_to_the_history(browser, asgi_server_factory):
    port = free_port()
    src = f"http://127.0.0.1:{port}/static/js/widget.js"
    sites = [embedding_site(src, customer_id, signature) for customer_id, signature in [
        ("shop-77", customer_signature("shop-77", SECRET)),
        ("shop-77", customer_signature("shop-77", SECRET)),
        ("shop-77", customer_signature("shop-78", SECRET)),  # a signature for someone else: forged
    ]]
    urls = [f"http://127.0.0.1:{site.server_address[1]}" for site in sites]
    try:
        server = asgi_server_factory(port=port, WIDGET_ALLOWED_ORIGINS=",".join(urls),
                                     WIDGET_IDENTITY_SECRET=SECRET, RATELIMIT_ENABLE="false")
        statuses = [start_chat(browser, url, f"Question {n}") for n, url in enumerate(urls)]
    finally:
        for site in sites:
            site.shutdown()
    assert statuses == [201, 201, 400]
    first, second = Ticket.objects.order_by("pk")
    assert (first.customer_key, second.customer_key) == ("shop-77", "shop-77")
    ops = StaffFactory(role="ops")
    token = httpx.post(f"{server.url}/api/v1/auth/token/",
                       json={"username": ops.username, "password": DEFAULT_PASSWORD}).json()["token"]
    history = httpx.get(f"{server.url}/api/v1/tickets/{second.pk}/history/",
                        headers={"Authorization": f"Token {token}"}).json()
    assert [row["id"] for row in history["results"]] == [first.pk]
