"""A StatusNotifierWatcher and host on the session bus, reading the tray as a desktop panel would.

Registered items (the app's tray icon, exported by libayatana-appindicator) are polled over D-Bus:
their StatusNotifierItem properties (the label carries the pending count, the icon is a PNG file
named by IconName) and their dbusmenu layout (the menu lines). Each time what a person would see
changes, one JSON line is printed: {"label": ..., "title": ..., "status": ...,
"icon": ..., "icon_png": base64 of the icon file as the panel read it, "menu": [{"label",
"enabled"}...]}.
Prints "ready" once the watcher's name is owned. Runs until killed.
"""

import asyncio
import base64
import json
import os
import sys

from dbus_next import BusType, Message, MessageType, Variant
from dbus_next.aio import MessageBus

WATCHER = "org.kde.StatusNotifierWatcher"
PATH = "/StatusNotifierWatcher"
INTROSPECTION = """<node><interface name="org.kde.StatusNotifierWatcher">
<method name="RegisterStatusNotifierItem"><arg name="service" type="s" direction="in"/></method>
<method name="RegisterStatusNotifierHost"><arg name="service" type="s" direction="in"/></method>
<property name="RegisteredStatusNotifierItems" type="as" access="read"/>
<property name="IsStatusNotifierHostRegistered" type="b" access="read"/>
<property name="ProtocolVersion" type="i" access="read"/>
<signal name="StatusNotifierItemRegistered"><arg type="s"/></signal>
<signal name="StatusNotifierItemUnregistered"><arg type="s"/></signal>
<signal name="StatusNotifierHostRegistered"/>
</interface></node>"""

items = []  # (bus name, object path)


def properties():
    return {
        "RegisteredStatusNotifierItems": Variant("as", [f"{n}{p}" for n, p in items]),
        "IsStatusNotifierHostRegistered": Variant("b", True),
        "ProtocolVersion": Variant("i", 0),
    }


def handler(bus):
    def handle(msg):
        if msg.message_type != MessageType.METHOD_CALL or msg.path != PATH:
            return None
        if msg.member == "RegisterStatusNotifierItem":
            service = msg.body[0]
            item = (msg.sender, service) if service.startswith("/") else (service, "/StatusNotifierItem")
            if item not in items:
                items.append(item)
            bus.send(Message.new_signal(PATH, WATCHER, "StatusNotifierItemRegistered", "s", [f"{item[0]}{item[1]}"]))
            return Message.new_method_return(msg)
        if msg.member == "RegisterStatusNotifierHost":
            return Message.new_method_return(msg)
        if msg.interface == "org.freedesktop.DBus.Properties" and msg.member == "GetAll":
            return Message.new_method_return(msg, "a{sv}", [properties()])
        if msg.interface == "org.freedesktop.DBus.Properties" and msg.member == "Get":
            value = properties().get(msg.body[1])
            if value is None:
                return Message.new_error(msg, "org.freedesktop.DBus.Error.UnknownProperty", msg.body[1])
            return Message.new_method_return(msg, "v", [value])
        if msg.member == "Introspect":
            return Message.new_method_return(msg, "s", [INTROSPECTION])
        return Message.new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod", msg.member)

    return handle


def menu_lines(layout):
    """Flattens a dbusmenu layout (id, properties, children) into visible lines."""
    lines = []
    for child in layout[2]:
        _, props, grandchildren = child.value
        kind = props.get("type")
        visible = props.get("visible")
        if (kind is not None and kind.value == "separator") or (visible is not None and not visible.value):
            continue
        label = props.get("label")
        enabled = props.get("enabled")
        toggled = props.get("toggle-state")
        line = {"label": label.value.replace("_", "") if label else "", "enabled": enabled.value if enabled else True}
        if toggled is not None:
            line["checked"] = toggled.value == 1
        lines.append(line)
        lines.extend(menu_lines(child.value))
    return lines


async def snapshot(bus, name, path):
    reply = await bus.call(Message(destination=name, path=path, interface="org.freedesktop.DBus.Properties",
                                   member="GetAll", signature="s", body=["org.kde.StatusNotifierItem"]))
    if reply.message_type != MessageType.METHOD_RETURN:
        return None
    props = reply.body[0]
    value = lambda key: props[key].value if key in props else None
    menu = []
    menu_path = value("Menu")
    if menu_path:
        layout = await bus.call(Message(destination=name, path=menu_path, interface="com.canonical.dbusmenu",
                                        member="GetLayout", signature="iias", body=[0, -1, []]))
        if layout.message_type == MessageType.METHOD_RETURN:
            menu = menu_lines(layout.body[1])
    icon = value("IconName")
    icon_png = None
    if icon and os.path.isabs(icon):
        try:
            with open(icon, "rb") as file:
                icon_png = base64.b64encode(file.read()).decode()
        except OSError:  # replaced meanwhile: the next reading has the new one
            pass
    return {
        "item": f"{name}{path}",
        "label": value("XAyatanaLabel"),
        "icon": icon,
        "icon_png": icon_png,
        "title": value("Title"),
        "status": value("Status"),
        "menu": menu,
    }


async def main():
    bus = await MessageBus(bus_type=BusType.SESSION).connect()
    bus.add_message_handler(handler(bus))
    await bus.request_name(WATCHER)
    await bus.request_name("org.kde.StatusNotifierHost-assent-test")
    print("ready", flush=True)
    last = {}
    while True:
        for name, path in list(items):
            try:
                seen = await snapshot(bus, name, path)
            except Exception as error:  # the item went away
                seen = {"item": f"{name}{path}", "error": str(error)}
            if seen is not None and last.get((name, path)) != seen:
                last[(name, path)] = seen
                print(json.dumps(seen), flush=True)
        await asyncio.sleep(0.2)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
