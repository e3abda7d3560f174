#!/usr/bin/env bash
# Second half of scripts/session: runs inside dbus-run-session and xvfb-run.
set -euo pipefail
session_dir=${ASSENT_SESSION_DIR:?run through scripts/session}

# The bus starts the session's gnome-keyring on demand (scripts/lib/session-keyring). Start it
# now and wait until it owns its name: a command that runs first then never waits for it.
dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
  org.freedesktop.DBus.StartServiceByName string:org.freedesktop.secrets uint32:0 >/dev/null || true
"$(dirname "$0")/await-secret-service"
# dunst as configured on the system, except its menu (`dunstctl context`, a notification's
# actions) is answered by tests/desktop/dunst-pick: how a test chooses Deny in a notification.
dunst_config=(); system_dunstrc=/etc/xdg/dunst/dunstrc
if [ -f "$system_dunstrc" ]; then
  pick="$(cd "$(dirname "$0")/../.." && pwd)/tests/desktop/dunst-pick"
  sed "s|^\( *\)dmenu = .*|\1dmenu = $pick|" "$system_dunstrc" >"$session_dir/dunstrc"
  dunst_config=(-config "$session_dir/dunstrc")
fi
dunst "${dunst_config[@]}" >"$session_dir/dunst.log" 2>&1 &
dunst_pid=$!

cleanup() {
  kill "$dunst_pid" 2>/dev/null || true
  # gnome-keyring-daemon was started by the bus (and maybe restarted): find it by its name and
  # the private runtime directory in its environment. Only it: other daemons a test restarted inherit
  # the same environment (the PostgreSQL test cluster after a restart test) and must outlive the
  # session.
  for env in /proc/[0-9]*/environ; do
    pid=${env#/proc/}; pid=${pid%/environ}
    [ "$pid" != $$ ] || continue
    case "$(cat "/proc/$pid/comm" 2>/dev/null)" in gnome-keyring-d*) ;; *) continue ;; esac
    if grep -qsz "^XDG_RUNTIME_DIR=$XDG_RUNTIME_DIR\$" "$env"; then
      kill "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$session_dir"
}
trap cleanup EXIT

export ASSENT_IN_SESSION=1
"$@"
