#!/usr/bin/env bash
# Installs the system packages PayMint needs (OCR, PDF rendering, and Chromium for the
# end-to-end browser tests). Uses apt-get when running as root; otherwise prints what to
# install and fails if anything is missing.
set -euo pipefail

packages=(tesseract-ocr tesseract-ocr-eng tesseract-ocr-deu tesseract-ocr-fra poppler-utils chromium
          fonts-dejavu-core)  # DejaVu: the synthetic invoices' font (₹, €, accents)
missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present (${packages[*]})"
  exit 0
fi

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "system packages: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "system packages: installed"
else
  echo "PayMint needs these system packages, which are missing: ${missing[*]}" >&2
  echo "Install them as root, e.g.: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
