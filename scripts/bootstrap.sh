# shellcheck shell=bash
# Sourced by scripts/run and scripts/test: find Python >= 3.12 and keep .venv up to date.
# Usage: bootstrap_venv [extras]   (extras: "" for the proxy, "test" for the test suite)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

_py_ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }

find_python() {
    local c
    for c in "${PYTHON:-}" python3.13 python3.12 python3 \
             "$HOME"/.pyenv/versions/3.1[3-9]*/bin/python3 "$HOME"/.pyenv/versions/3.12*/bin/python3 \
             /usr/local/bin/python3.1[2-9] /opt/homebrew/bin/python3.1[2-9]; do
        [ -n "$c" ] || continue
        if command -v "$c" >/dev/null 2>&1 && _py_ok "$c"; then
            command -v "$c"
            return 0
        fi
    done
    return 1
}

bootstrap_venv() {
    local extras="${1:-}" py stamp want
    cd "$ROOT" || exit 1
    if [ ! -x "$VENV/bin/python" ] || ! _py_ok "$VENV/bin/python"; then
        if ! py="$(find_python)"; then
            echo "aws-masker needs Python >= 3.12 (mitmproxy 12 requires it); none was found." >&2
            echo "Install one (e.g. 'pyenv install 3.12', 'brew install python@3.12'," >&2
            echo "'apt-get install python3.12') or point PYTHON at it, then run this again." >&2
            exit 2
        fi
        echo "setting up $VENV with $("$py" --version 2>&1)" >&2
        rm -rf "$VENV"
        "$py" -m venv "$VENV" || exit 2
    fi
    want="$(cat pyproject.toml | "$VENV/bin/python" -c 'import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')-${extras:-base}"
    stamp="$VENV/.aws-masker-installed"
    if [ ! -f "$stamp" ] || ! grep -qx -- "$want" "$stamp" 2>/dev/null; then
        local spec="."
        [ -n "$extras" ] && spec=".[$extras]"
        echo "installing aws-masker dependencies ($spec)…" >&2
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$spec" >&2 || exit 2
        # remember every extras set installed with this pyproject
        { [ -f "$stamp" ] && cat "$stamp"; echo "$want"; } | sort -u > "$stamp.tmp" && mv "$stamp.tmp" "$stamp"
    fi
}
