#!/usr/bin/env bash
# The .deb's Depends for a built bundle: the Debian packages of the libraries the bundle links
# but does not ship, plus those Qt loads at run time (dlopen), comma-separated on one line.
#
#   bash packaging/linux/depends.sh dist/qbi-desktop
#
# A linked library that is not installed on the build machine is looked up in KNOWN below
# (the Qt Wayland plugin links libwayland-cursor, which a machine without Wayland lacks: left
# out, the installed app could not start on a Wayland desktop); one in neither place is named
# on stderr and the script fails, so a .deb never leaves out a library silently.
set -euo pipefail
BUNDLE=${1:?usage: depends.sh BUNDLE}

declare -A KNOWN=(
  [libwayland-client.so.0]=libwayland-client0
  [libwayland-cursor.so.0]=libwayland-cursor0
  [libwayland-egl.so.1]=libwayland-egl1
  [libxkbcommon.so.0]=libxkbcommon0
  [libxkbcommon-x11.so.0]=libxkbcommon-x11-0
  [libxcb-cursor.so.0]=libxcb-cursor0
  [libEGL.so.1]=libegl1
  [libGL.so.1]=libgl1
  [libdbus-1.so.3]=libdbus-1-3
)

external_libraries() {
  local shipped
  shipped=$(find "$BUNDLE" \( -type f -o -type l \) -name '*.so*' -printf '%f\n' | sort -u)
  find "$BUNDLE" -type f \( -name '*.so*' -o -name qbi-desktop \) -print0 |
    xargs -0 readelf -d 2>/dev/null |
    sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort -u |
    comm -23 - <(echo "$shipped")
}

depends=()
unknown=()
for lib in $(external_libraries); do
  # (awk reads to the end: an early exit would kill ldconfig with SIGPIPE under pipefail)
  path=$(ldconfig -p | awk -v lib="$lib" '$1 == lib && !found {print $NF; found = 1}')
  package=""
  if [ -n "$path" ]; then
    real=$(readlink -f "$path")
    package=$(dpkg -S "$path" 2>/dev/null || dpkg -S "$real" 2>/dev/null || true)
    package=${package%%:*}
  fi
  [ -z "$package" ] && package=${KNOWN[$lib]:-}
  if [ -n "$package" ]; then depends+=("$package"); else unknown+=("$lib"); fi
done
if [ ${#unknown[@]} -gt 0 ]; then
  echo "depends.sh: the bundle links ${unknown[*]}, neither installed here nor in KNOWN:" \
    "add its Debian package to packaging/linux/depends.sh" >&2
  exit 1
fi
# Qt's X11 platform plugin loads these at run time (dlopen), so readelf cannot see them.
depends+=(libegl1 libgl1 libfontconfig1 libxkbcommon-x11-0 libxcb-cursor0)
printf '%s\n' "${depends[@]}" | sort -u | paste -sd, | sed 's/,/, /g'
