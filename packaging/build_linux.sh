#!/usr/bin/env bash
# Linux packages of QBI Desktop: the frozen bundle, a .deb and a portable .tar.gz.
#
#   bash packaging/build_linux.sh [--reuse-venv]
#
# 1. packaging/build_bundle.py: clean venv in build/venv (runtime dependencies + PyInstaller
#    only), icons rendered by Qt into build/icons, PyInstaller -> dist/qbi-desktop/
# 2. dist/qbi-desktop_<version>_<arch>.deb: the app under /opt/qbi-desktop, the launcher
#    /usr/bin/qbi-desktop (a symlink), the menu entry with its MIME types, hicolor icons;
#    Depends computed from the libraries the bundle links but does not ship
#    (packaging/linux/depends.sh).
# 3. dist/qbi-desktop-<version>-linux-<arch>.tar.gz: the same app, unpack and run anywhere.
# Needs: python3 (>= 3.11, with venv), dpkg-deb, binutils (strip, readelf, as, ld); installs binutils
# when missing and it is root (or has sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
if ! command -v readelf >/dev/null || ! command -v strip >/dev/null || ! command -v ld >/dev/null; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends binutils
fi

PYTHON=${PYTHON:-python3}
"$PYTHON" packaging/build_bundle.py "$@"

BUNDLE=dist/qbi-desktop
VERSION=$(build/venv/bin/python -c "from importlib.metadata import version; print(version('qbi-desktop'))")
ARCH=$(dpkg --print-architecture)
# A bundle that cannot tell its own version is broken: check the frozen app, not the venv.
FROZEN_VERSION=$("$BUNDLE/qbi-desktop" --version)
if [ "$FROZEN_VERSION" != "qbi-desktop $VERSION" ]; then
  echo "frozen app reports '$FROZEN_VERSION', expected 'qbi-desktop $VERSION'" >&2
  exit 1
fi

# --- Depends: libraries the bundle links that it does not carry -> their Debian packages ---
DEPENDS=$(bash packaging/linux/depends.sh "$BUNDLE")

# --- the .deb -------------------------------------------------------------------------------
STAGE=build/deb/qbi-desktop_${VERSION}_${ARCH}
rm -rf "$STAGE"
mkdir -p "$STAGE/DEBIAN" "$STAGE/opt" "$STAGE/usr/bin" "$STAGE/usr/share/applications" \
  "$STAGE/usr/share/doc/qbi-desktop"
cp -a "$BUNDLE" "$STAGE/opt/qbi-desktop"
ln -s /opt/qbi-desktop/qbi-desktop "$STAGE/usr/bin/qbi-desktop"
install -m 644 resources/qbi-desktop.desktop "$STAGE/usr/share/applications/qbi-desktop.desktop"
for dir in build/icons/*x*/; do
  size=$(basename "$dir")
  install -D -m 644 "$dir/qbi-desktop.png" "$STAGE/usr/share/icons/hicolor/$size/apps/qbi-desktop.png"
done
install -D -m 644 resources/qbi-desktop.svg "$STAGE/usr/share/icons/hicolor/scalable/apps/qbi-desktop.svg"
install -m 644 packaging/linux/copyright "$STAGE/usr/share/doc/qbi-desktop/copyright"
install -m 755 packaging/linux/postinst packaging/linux/postrm "$STAGE/DEBIAN/"
INSTALLED_SIZE=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@INSTALLED_SIZE@/$INSTALLED_SIZE/" \
  -e "s/@DEPENDS@/$DEPENDS/" packaging/linux/control.in >"$STAGE/DEBIAN/control"
# Directories 755, files 644 (executables and libraries keep their x bit), all owned by root.
find "$STAGE" -type d -exec chmod 755 {} +
find "$STAGE" -type f ! -perm -u+x -exec chmod 644 {} +
DEB=dist/qbi-desktop_${VERSION}_${ARCH}.deb
dpkg-deb --root-owner-group -Zxz --build "$STAGE" "$DEB" >/dev/null
echo "deb: $DEB ($(du -m "$DEB" | cut -f1) MB), Depends: $DEPENDS"

# --- the portable tarball ----------------------------------------------------------------------
PORTABLE=build/portable/qbi-desktop-$VERSION
rm -rf build/portable
mkdir -p "$PORTABLE/share/applications"
cp -a "$BUNDLE"/. "$PORTABLE/"
cp -a "$STAGE/usr/share/icons" "$PORTABLE/share/"
install -m 644 resources/qbi-desktop.desktop "$PORTABLE/share/applications/"
cat >"$PORTABLE/README.txt" <<EOF
QBI Desktop $VERSION (portable build for Linux $ARCH)

Run:      ./qbi-desktop [FILE...]      (./qbi-desktop --self-test checks this copy)
Menu:     cp -r share/. ~/.local/share/ and put this folder's qbi-desktop on your PATH
          (e.g. ln -s "\$PWD/qbi-desktop" ~/.local/bin/qbi-desktop)
Needs:    a desktop session and the usual desktop libraries, which it takes from the
          system (on Debian/Ubuntu: libegl1 libgl1 libfontconfig1 libfreetype6 libx11-6
          libxkbcommon-x11-0 libxcb-cursor0 libdbus-1-3 libstdc++6 libglib2.0-0
          libsqlite3-0 libgssapi-krb5-2 libzstd1 libpng16-16, and for Wayland
          libwayland-client0 libwayland-cursor0; the .deb's Depends lists
          them all).
Settings, logs and recovery journals live in your user folders (Help > About shows
where), so replacing this folder with a newer version keeps them.
EOF
TARBALL=dist/qbi-desktop-${VERSION}-linux-${ARCH}.tar.gz
tar -C build/portable -czf "$TARBALL" "qbi-desktop-$VERSION"
echo "tarball: $TARBALL ($(du -m "$TARBALL" | cut -f1) MB)"
echo "bundle: $BUNDLE ($(du -sm "$BUNDLE" | cut -f1) MB unpacked)"
