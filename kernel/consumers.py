"""`/ws/echo/`: a signed-in user's round trip through the channel layer (ops diagnostics).

Every message a client sends is broadcast through the channel layer to all sockets of the same
room, proving that two clients on different server processes reach each other.
"""

import json
import re

from django.urls import re_path

from kernel.ws import SocketConsumer


class EchoConsumer(SocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        room = self.scope["url_route"]["kwargs"]["room"]
        if user is None or not user.is_authenticated or not re.fullmatch(r"[a-z0-9-]{1,50}", room):
            await self.close(code=4401)
            return
        self.group = f"echo.{room}"
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        try:
            payload = json.loads(text_data or "")
        except ValueError:
            await self.send(json.dumps({"type": "error", "code": "malformed_frame",
                                        "detail": "Frames must be JSON."}))
            return
        await self.channel_layer.group_send(
            self.group, {"type": "echo.message", "payload": payload, "sender": self.scope["user"].username}
        )

    async def echo_message(self, event):
        await self.send(json.dumps({"type": "echo", "sender": event["sender"], "payload": event["payload"]}))


urlpatterns = [re_path(r"^ws/echo/(?P<room>[^/]+)/$", EchoConsumer.as_asgi())]
