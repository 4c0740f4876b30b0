#!/usr/bin/env bash
# Set up Studio in .venv (once; again when pyproject.toml changes) and start it or test it.
#   ./dev.sh start [ARGS...]   set up, then launch Studio on the embedded model
#   ./dev.sh test  [PYTEST ARGS...]   set up, then run the test suite (tests marked slow: -m slow)
#   ./dev.sh lint                     set up, then ruff (lint, format), import-linter, pyright
set -euo pipefail
cd "$(dirname "$0")"
VENV="${STUDIO_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
  fi
  # shellcheck disable=SC1091
  . "$VENV/bin/activate"
  local stamp="$VENV/.studio-installed"
  local want
  want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    # torch first and pinned: this CPU build is on the machine's disk; an unpinned
    # requirement would pull a multi-GB CUDA build.
    python -c "import torch" 2>/dev/null || python -m pip install -q "torch==2.13.0"
    python -m pip install -q -e ".[test]"
    # The tests compare Studio's CLIP tokenizer with open_clip's; without its dependencies
    # (torchvision would pull another torch build).
    python -m pip install -q --no-deps "open-clip-torch==3.3.0"
    echo "$want" > "$stamp"
  fi
}

command="${1:-start}"
shift || true
case "$command" in
  start)
    setup
    exec studio "$@"
    ;;
  test)
    setup
    export QT_QPA_PLATFORM=offscreen HF_HUB_OFFLINE=1
    exec python -m pytest -q "$@"
    ;;
  lint)
    setup
    ruff check studio tests bench scripts
    ruff format --check studio tests bench scripts
    lint-imports --no-cache
    pyright -p pyproject.toml  # not a pyrightconfig.json that a parent folder may hold
    ;;
  *)
    echo "usage: ./dev.sh start|test|lint [ARGS...]" >&2
    exit 2
    ;;
esac
