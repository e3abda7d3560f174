# Installs what building and testing Assent needs, idempotently. Sourced by scripts/test and
# scripts/demo; every function is safe to run again and does nothing when its part is present.
#
# Debian 12 / Ubuntu 22.04+: system packages through apt (sudo when not root), Rust through
# rustup when cargo is missing, Node.js >= 20 from the npm registry when the system one is older,
# Python tools in a virtualenv under target/tools.

ASSENT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TOOLS_DIR="$ASSENT_ROOT/target/tools"

# Packages: WebKitGTK 4.1 and friends to build the desktop app; Secret Service, D-Bus, Xvfb and a
# notification daemon to run it in tests; Chromium for the UI browser tests; tmux to drive the
# terminal demo like a person at a terminal; PostgreSQL and nginx for the multi-instance tests
# (their own throwaway cluster and balancer, never the system ones); polkitd for user
# verification, run on a private system bus by the tests (never the machine's).
APT_PACKAGES=(
  build-essential pkg-config curl ca-certificates git
  libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev libsoup-3.0-dev
  libjavascriptcoregtk-4.1-dev libxdo-dev libdbus-1-dev libssl-dev
  webkit2gtk-driver xvfb xauth xdotool x11-utils imagemagick
  dbus dbus-x11 gnome-keyring libsecret-tools dunst libnotify-bin tmux
  chromium chromium-driver
  python3 python3-venv
  postgresql nginx
  polkitd
)

# Each step is stamped with the time of day, so a slow run (CI has a 90-minute cap) shows where it went.
log() { printf '\033[1;34m==>\033[0m [%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_apt_packages() {
  local missing=()
  for pkg in "${APT_PACKAGES[@]}" "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$pkg")
    fi
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing system packages: ${missing[*]}"
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
}

ensure_rust() {
  if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
  fi
  if ! command -v cargo >/dev/null 2>&1; then
    log "installing Rust (rustup, stable, minimal profile)"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component rustfmt,clippy
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
  fi
}

# The nightly toolchain cargo-fuzz needs (sanitizers). The machines' image ships one; elsewhere
# rustup installs it.
ensure_nightly() {
  if ! cargo +nightly --version >/dev/null 2>&1; then
    log "installing the nightly Rust toolchain (for cargo-fuzz)"
    rustup toolchain install nightly --profile minimal
  fi
}

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

ensure_node() {
  if [ -x "$TOOLS_DIR/node/bin/node" ]; then
    export PATH="$TOOLS_DIR/node/bin:$PATH"
  fi
  if [ "$(node_major)" -ge 20 ] && command -v npm >/dev/null 2>&1; then
    return
  fi
  if ! command -v npm >/dev/null 2>&1; then
    ensure_apt_packages nodejs npm
  fi
  if [ "$(node_major)" -lt 20 ]; then
    # Vite and Playwright need Node.js 20; Debian 12 ships 18. The npm registry carries the
    # official Node.js binaries as node-linux-<arch> packages.
    local arch
    case "$(uname -m)" in
      x86_64) arch=x64 ;;
      aarch64) arch=arm64 ;;
      *) echo "no Node.js 20 package for $(uname -m); install Node.js >= 20 and retry" >&2; exit 1 ;;
    esac
    log "installing Node.js 20 into $TOOLS_DIR/node"
    mkdir -p "$TOOLS_DIR/node-pkg"
    npm install --silent --no-save --prefix "$TOOLS_DIR/node-pkg" "node-linux-$arch@20.20.2"
    mkdir -p "$TOOLS_DIR/node/bin"
    ln -sf "$TOOLS_DIR/node-pkg/node_modules/node-linux-$arch/bin/node" "$TOOLS_DIR/node/bin/node"
    export PATH="$TOOLS_DIR/node/bin:$PATH"
  fi
}

# npm ci only when package-lock.json changed since the last install.
ensure_npm_deps() {
  local dir=$1
  local stamp="$dir/node_modules/.assent-lock-stamp"
  if [ ! -f "$stamp" ] || ! cmp -s "$dir/package-lock.json" "$stamp"; then
    log "installing npm packages in ${dir#"$ASSENT_ROOT"/}"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$dir/package-lock.json" "$stamp"
  fi
}

# A virtualenv with the Python packages the tests drive the service with (a real Authy client).
ensure_python_tools() {
  local venv="$TOOLS_DIR/venv"
  local want="$ASSENT_ROOT/scripts/lib/python-requirements.txt"
  if [ ! -x "$venv/bin/python" ]; then
    log "creating Python virtualenv in ${venv#"$ASSENT_ROOT"/}"
    python3 -m venv "$venv"
  fi
  if ! cmp -s "$want" "$venv/.assent-requirements"; then
    log "installing Python packages"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$want"
    cp "$want" "$venv/.assent-requirements"
  fi
  export ASSENT_TEST_PYTHON="$venv/bin/python"
}

# The npm packages the tests drive the service with (the real npm Authy client, authy 1.4.0),
# pinned by tests/service/authy_npm/package-lock.json.
ensure_node_tools() {
  ensure_npm_deps "$ASSENT_ROOT/tests/service/authy_npm"
}

# A cargo-installed tool at an exact version (installed once, then reused).
ensure_cargo_tool() {
  local tool=$1 version=$2
  if ! cargo install --list 2>/dev/null | grep -q "^$tool v$version:"; then
    log "installing $tool $version"
    cargo install --locked --quiet "$tool" --version "$version"
  fi
}

# Assent's polkit action, where polkitd reads actions (the desktop packages install the same file):
# the user-verification tests run polkitd on a private bus, and it reads only this directory.
ensure_polkit_policy() {
  local policy="$ASSENT_ROOT/packaging/desktop/dev.assent.approve.policy"
  local installed=/usr/share/polkit-1/actions/dev.assent.approve.policy
  if ! cmp -s "$policy" "$installed"; then
    log "installing the polkit action dev.assent.approve"
    as_root install -D -m 0644 "$policy" "$installed"
  fi
}

build_ui() {
  ensure_npm_deps "$ASSENT_ROOT/ui"
  log "building the desktop UI"
  (cd "$ASSENT_ROOT/ui" && npm run --silent build >/dev/null)
}
