"""A customer (one browser context) chats with a worker (another) through the widget and the console."""

import pytest
from playwright.sync_api import expect

from tests.factories.tickets import on_shift_worker
from tests.factories.workers import DEFAULT_PASSWORD
from tests.servers import free_port
from tickets.models import Message, Ticket

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HTML_BODY = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script><b>bold?</b>'


def test_customer_and_worker_chat_live_html_stays_text_worker_resolves_customer_rates(browser,
                                                                                      asgi_server_factory):
    port = free_port()
    server = asgi_server_factory(port=port, CSRF_TRUSTED_ORIGINS=f"http://127.0.0.1:{port}",
                                 RATELIMIT_ENABLE="false")
    worker = on_shift_worker(connected=False, user__username="wendy")

    worker_context = browser.new_context()
    customer_context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        console = worker_context.new_page()
        console.goto(f"{server.url}/login/?next=/console/")
        console.get_by_label("Username").fill("wendy")
        console.get_by_label("Password").fill(DEFAULT_PASSWORD)
        with console.expect_navigation():
            console.get_by_role("button", name="Sign in").click()
        expect(console.locator("#presence")).to_have_text("Online", timeout=10000)

        chat = customer_context.new_page()
        chat.goto(f"{server.url}/chat/")
        chat.get_by_label("Your name").fill("Ana")
        chat.get_by_label("Email").fill("ana@example.com")
        chat.get_by_label("Topic").select_option("general")
        chat.get_by_label("How can we help?").fill(HTML_BODY)
        chat.get_by_role("button", name="Start chat").click()
        expect(chat.locator(".slw-log li")).to_have_count(1, timeout=10000)
        expect(chat.locator(".slw-log li").first).to_contain_text(HTML_BODY)

        pane = console.locator(".chat")
        expect(pane).to_have_count(1, timeout=10000)
        expect(pane.locator(".log li").first).to_contain_text(HTML_BODY)
        assert pane.locator(".log img, .log script, .log b").count() == 0

        console.get_by_label("Reply").fill("Hello Ana, I am looking into it.")
        console.get_by_role("button", name="Send").click()
        expect(chat.locator(".slw-log li").nth(1)).to_contain_text("Hello Ana, I am looking into it.", timeout=10000)

        chat.get_by_label("Message").fill("Thank you!")
        chat.get_by_role("button", name="Send").click()
        expect(pane.locator(".log li").nth(2)).to_contain_text("Thank you!", timeout=10000)
        expect(chat.locator(".slw-log li.slw-pending")).to_have_count(0, timeout=10000)

        console.get_by_text("Resolve or transfer").click()
        console.get_by_label("Resolution").fill("Explained the refund timeline")
        console.get_by_role("button", name="Resolve").click()
        expect(console.locator(".chat")).to_have_count(0, timeout=10000)

        expect(chat.get_by_text("Your case has been resolved")).to_be_visible(timeout=10000)
        chat.get_by_label("5 out of 5").check()
        chat.get_by_label("Comment (optional)").fill("Quick and kind")
        chat.get_by_role("button", name="Send rating").click()
        expect(chat.get_by_text("Thanks for your rating!")).to_be_visible(timeout=10000)

        assert chat.evaluate("window.__pwned") is None
        assert console.evaluate("window.__pwned") is None
        assert chat.locator(".slw-log img, .slw-log script, .slw-log b").count() == 0
    finally:
        customer_context.close()
        worker_context.close()

    ticket = Ticket.objects.get()
    assert (ticket.status, ticket.rating, ticket.rating_comment, ticket.resolved_by_id) == (
        "resolved", 5, "Quick and kind", worker.pk)
    assert list(Message.objects.filter(ticket=ticket).values_list("seq", "sender", "body")) == [
        (1, "customer", HTML_BODY), (2, "worker", "Hello Ana, I am looking into it."), (3, "customer", "Thank you!")]
