"""Watches the notification traffic on the session bus, as a monitor (org.freedesktop.DBus.Monitoring).

Prints one JSON line per message a test asserts on:
  {"type": "call", "member": "Notify" | "CloseNotification", "sender", "serial", "body": [...]}
  {"type": "return", "reply_to": [sender, serial], "body": [...]}  (answers to Notify only)
  {"type": "signal", "member": "NotificationClosed" | "ActionInvoked", "body": [...]}
Variants in bodies (the hints) are printed as their values; bytes as a length.
Prints {"ready": true} once the monitor is in place. Runs until killed.
"""

import asyncio
import json
import sys

from dbus_next import BusType, Message, MessageType, Variant
from dbus_next.aio import MessageBus

INTERFACE = "org.freedesktop.Notifications"


def plain(value):
    if isinstance(value, Variant):
        return plain(value.value)
    if isinstance(value, (bytes, bytearray)):
        return {"bytes": len(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def emit(line):
    print(json.dumps(line), flush=True)


async def main():
    bus = await MessageBus(bus_type=BusType.SESSION).connect()
    notify_calls = set()  # (sender, serial) of Notify calls, to pick their answers out

    def handle(msg):
        if msg.message_type == MessageType.METHOD_CALL and msg.interface == INTERFACE:
            if msg.member == "Notify":
                notify_calls.add((msg.sender, msg.serial))
            emit({"type": "call", "member": msg.member, "sender": msg.sender, "serial": msg.serial,
                  "body": plain(msg.body)})
        elif msg.message_type == MessageType.METHOD_RETURN and (msg.destination, msg.reply_serial) in notify_calls:
            emit({"type": "return", "reply_to": [msg.destination, msg.reply_serial], "body": plain(msg.body)})
        elif msg.message_type == MessageType.SIGNAL and msg.interface == INTERFACE:
            emit({"type": "signal", "member": msg.member, "body": plain(msg.body)})
        # A monitor never answers: every message is handled here.
        return True

    reply = await bus.call(Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                                   interface="org.freedesktop.DBus.Monitoring", member="BecomeMonitor",
                                   signature="asu",
                                   body=[[f"interface='{INTERFACE}'", "type='method_return'"], 0]))
    if reply.message_type != MessageType.METHOD_RETURN:
        print(f"BecomeMonitor refused: {reply.body}", file=sys.stderr)
        sys.exit(1)
    bus.add_message_handler(handle)
    emit({"ready": True})
    await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
