"""A stand-in for the XDG desktop portal's Settings interface on the session bus: owns
org.freedesktop.portal.Desktop and answers Read("org.freedesktop.appearance", "color-scheme") with
the scheme given on the command line (0 no preference, 1 prefer dark, 2 prefer light). A line
"set N" on stdin changes it and emits SettingChanged, as GNOME does when the person flips dark
mode. Prints {"ready": true} once the name is owned, {"read": N} for each Read it answered.

    settings_portal.py 1
"""

import asyncio
import json
import sys

from dbus_next import BusType, Variant
from dbus_next.aio import MessageBus
from dbus_next.service import ServiceInterface, method, signal


def emit(line):
    print(json.dumps(line), flush=True)


class Settings(ServiceInterface):
    def __init__(self, scheme):
        super().__init__("org.freedesktop.portal.Settings")
        self.scheme = scheme

    @method()
    def Read(self, namespace: "s", key: "s") -> "v":
        if (namespace, key) != ("org.freedesktop.appearance", "color-scheme"):
            raise Exception("org.freedesktop.portal.Error.NotFound")
        emit({"read": self.scheme})
        return Variant("v", Variant("u", self.scheme))

    @signal()
    def SettingChanged(self, namespace: "s", key: "s", value: "v") -> "ssv":
        return [namespace, key, value]

    def set(self, scheme):
        self.scheme = scheme
        self.SettingChanged("org.freedesktop.appearance", "color-scheme", Variant("u", scheme))


async def main():
    settings = Settings(int(sys.argv[1]))
    bus = await MessageBus(bus_type=BusType.SESSION).connect()
    bus.export("/org/freedesktop/portal/desktop", settings)
    await bus.request_name("org.freedesktop.portal.Desktop")
    emit({"ready": True})
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        if line.startswith("set "):
            settings.set(int(line.split()[1]))
            emit({"set": settings.scheme})


asyncio.run(main())
