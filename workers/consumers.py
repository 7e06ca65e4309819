"""`/ws/shifts/`: live seat counts and multipliers for the shift boards (signed-in users only).

Server → client: `{"type": "shift.updated", "shift", "capacity", "seats_taken", "seats_left",
"rate_multiplier", "status"}` after every committed claim, release, promotion, no-show, surge,
edit or cancellation. The layer is at-most-once: a board re-reads the API when it reconnects.
"""

import json

from kernel.ws import SocketConsumer
from workers.events import SHIFT_BOARD_GROUP


class ShiftBoardConsumer(SocketConsumer):
    group = SHIFT_BOARD_GROUP

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        await self.send(json.dumps({"type": "error", "code": "read_only",
                                    "detail": "This socket only sends shift updates."}))

    async def board_events(self, event):
        for payload in event["payloads"]:
            await self.send(json.dumps(payload))
