"""Every websocket route, gathered from the apps."""

from kernel.consumers import urlpatterns as marketplace_ws
from tickets.routing import websocket_urlpatterns as tickets_ws
from workers.routing import websocket_urlpatterns as workers_ws

websocket_urlpatterns = [*marketplace_ws, *workers_ws, *tickets_ws]
