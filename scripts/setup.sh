#!/usr/bin/env bash
# Install everything factorline needs on a fresh Debian machine: system packages, a virtual
# environment with the project and its test tools. Safe to run again: it skips what is there.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

need_apt=()
command -v ffmpeg >/dev/null 2>&1 || need_apt+=(ffmpeg)
command -v espeak-ng >/dev/null 2>&1 || need_apt+=(espeak-ng)
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || need_apt+=(fonts-noto-cjk)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need_apt+=(fonts-dejavu-core)
# The editor's end-to-end tests drive Debian's Chromium (Playwright never downloads a browser).
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
fi
echo "setup: installing factorline and its dependencies into $VENV"
# torch first and pinned: the CPU wheel; an unpinned resolve would pull CUDA packages.
"$VENV/bin/pip" install -q "torch==2.13.0"
"$VENV/bin/pip" install -q -e ".[dev,nsfw,faces]"
# rapidocr wants opencv-python and nudenet opencv-python-headless: both write cv2/, so check it.
"$VENV/bin/python" -c "import cv2; cv2.imdecode"
"$VENV/bin/python" -c "import av, numpy, polars, pyarrow, factorline; print('setup: ok, factorline', factorline.__version__)"

# The drag-and-drop editor: a Vite build into ui/dist, which `factorline serve` serves at /.
if [ -f ui/package-lock.json ]; then
  echo "setup: building the editor (ui/dist)"
  (cd ui && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent)
fi
