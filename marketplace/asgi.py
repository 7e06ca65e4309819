"""ASGI application `marketplace.asgi:application`: HTTP and websockets in one process.

HTTP requests go through Django's WSGI handler on a pool of worker threads (a2wsgi), one thread per
request from the first middleware to the response. Django's own ASGI handler hops between the
event loop and a single per-process thread several times a request and runs one view at a time per
process; measured with `bench/claims.py` on this stack, the thread pool cut the server's CPU per
request by about two thirds for a bare view and lets a process overlap its requests' database
waits. Websockets stay on Channels' async consumers.
"""

import asyncio
import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
django_wsgi_app = get_wsgi_application()

from a2wsgi import WSGIMiddleware  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from kernel.realtime import server_loop_remember  # noqa: E402
from kernel.ws import websocket_stack  # noqa: E402
from marketplace.routing import websocket_urlpatterns  # noqa: E402

# A server holding thousands of sockets keeps many long-lived objects, and every dispatched
# event allocates short-lived ones (futures, contexts); at the default thresholds a full collection
# walked them all every second or so, stalling the loop for tens of milliseconds. With 2,000 chat
# sockets at 300 messages/s, p95 went from seconds to a quarter of a second (bench/chat.py).
gc.set_threshold(50_000, 20, 100)


class RemembersServerLoop:
    """Notes the loop this process serves on, for sync code that publishes on the channel layer."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        server_loop_remember(asyncio.get_running_loop())
        return await self.app(scope, receive, send)


application = RemembersServerLoop(ProtocolTypeRouter(
    {
        # The stubs type WSGIHandler's answer as HttpResponseBase, not the Iterable[bytes] it is.
        "http": WSGIMiddleware(django_wsgi_app, workers=settings.HTTP_THREADS),  # type: ignore[arg-type]
        "websocket": websocket_stack(URLRouter(websocket_urlpatterns)),
    }
))
