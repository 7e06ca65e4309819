"""A customer on the hosted chat page, from the pre-chat form to the rating: the buttons are always
in view (the conversation scrolls, never they), the page never scrolls sideways, the composer goes
once the case is resolved, and nothing meant for operators is shown."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.a11y import assert_accessible
from tests.factories.tickets import on_shift_worker
from tests.journeys.conftest import in_viewport, no_horizontal_scroll, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

OPERATOR_WORDS = ("WIDGET_ALLOWED_ORIGINS", "<script", "/api/v1/", "Add this chat to your site")


def test_customer_chats_to_the_rating_with_buttons_in_view(server, open_page, viewport):
    on_shift_worker(connected=False, user__username="wendy", full_name="Wendy Park")
    console = open_page()
    sign_in(console, server.url, "wendy")
    console.goto(server.url + "/console/")
    expect(console.locator("#presence")).to_have_text("Online", timeout=15000)

    chat = open_page()
    chat.goto(server.url + "/chat/")
    start = chat.get_by_role("button", name="Start chat")
    expect(start).to_be_visible()
    assert in_viewport(chat, start), "Start chat is below the visible area"
    assert no_horizontal_scroll(chat)
    page_text = chat.locator("body").inner_text()
    assert not any(word in page_text for word in OPERATOR_WORDS), page_text
    assert_accessible(chat)

    chat.get_by_label("Your name").fill("Rosa Lima")
    chat.get_by_label("Email").fill("rosa@example.com")
    chat.get_by_label("Topic").select_option("general")
    chat.get_by_label("How can we help?").fill("My card was charged twice.")
    start.click()
    log = chat.locator(".slw-log li")
    expect(log).to_have_count(1, timeout=15000)

    pane = console.locator(".chat")
    expect(pane).to_have_count(1, timeout=15000)
    # A long conversation: the message list scrolls inside the panel, the composer stays put.
    for n in range(1, 13):
        pane.get_by_label("Reply").fill(f"Step {n}: here is what we checked, in some detail, line after line.")
        pane.get_by_role("button", name="Send").click()
        expect(log).to_have_count(n + 1, timeout=10000)
    send = chat.get_by_role("button", name="Send")
    message_box = chat.get_by_label("Message")
    assert in_viewport(chat, send) and in_viewport(chat, message_box), "the composer scrolled out of view"
    assert in_viewport(chat, log.last), "the newest message is not shown"
    assert no_horizontal_scroll(chat)
    message_box.fill("Thank you, that explains it.")
    send.click()
    expect(pane.locator(".log li")).to_have_count(14, timeout=10000)
    assert_accessible(chat)

    pane.get_by_text("Resolve or transfer").click()
    pane.get_by_label("Resolution").fill("Refunded the duplicate charge")
    pane.get_by_role("button", name="Resolve").click()
    expect(pane).to_have_count(0, timeout=10000)

    expect(chat.get_by_text("Your case has been resolved")).to_be_visible(timeout=10000)
    assert in_viewport(chat, chat.get_by_text("Your case has been resolved"))
    expect(chat.get_by_label("Message")).to_have_count(0)  # the composer is gone
    rate = chat.get_by_role("button", name="Send rating")
    expect(rate).to_be_visible()
    assert in_viewport(chat, rate), "Send rating is below the visible area"
    assert in_viewport(chat, chat.get_by_label("5 out of 5"))
    assert no_horizontal_scroll(chat)
    assert_accessible(chat)

    chat.get_by_role("button", name="Send rating").click()  # no score chosen yet: said inline
    expect(chat.get_by_text("Choose a score from 1 to 5.")).to_be_visible()
    chat.get_by_label("5 out of 5").check()
    chat.get_by_label("Comment (optional)").fill("Quick and kind")
    rate.click()
    expect(chat.get_by_text("Thanks for your rating!")).to_be_visible(timeout=10000)
    reopen = chat.get_by_role("button", name="Reopen this chat")
    assert in_viewport(chat, reopen)
    page_text = chat.locator("body").inner_text()
    assert not any(word in page_text for word in OPERATOR_WORDS), page_text
    assert no_horizontal_scroll(chat)
    assert_accessible(chat)
