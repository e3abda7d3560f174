#!/usr/bin/env bash
# Second half of scripts/session: runs inside dbus-run-session and xvfb-run.
set -euo pipefail
session_dir=$(mktemp -d -t assent-session.XXXXXX)
export XDG_DATA_HOME="$session_dir/data" XDG_RUNTIME_DIR="$session_dir/run" XDG_CACHE_HOME="$session_dir/cache"
mkdir -p "$XDG_DATA_HOME" "$XDG_RUNTIME_DIR" "$XDG_CACHE_HOME"
chmod 700 "$XDG_RUNTIME_DIR"

# --unlock with a password creates and unlocks the "login" collection, so nothing prompts.
eval "$(printf 'assent-session' | gnome-keyring-daemon --unlock --components=secrets)"
export GNOME_KEYRING_CONTROL
# The daemon forks and answers before it owns its bus name. A client asking for the Secret
# Service in that gap makes D-Bus start a second gnome-keyring by activation, outside this
# session's directories (its files land in the real home) and without the unlocked "login"
# collection: keys then go where a test never finds them. So wait for the name first.
secrets_owned() {
  dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q 'boolean true'
}
for _ in $(seq 100); do secrets_owned && break; sleep 0.1; done
secrets_owned || { echo "the session's Secret Service (gnome-keyring) did not come up" >&2; exit 1; }
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
  # gnome-keyring-daemon daemonizes and does not print its pid: find it by its name and the
  # private runtime directory in its environment. Only it: other daemons a test restarted inherit
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
