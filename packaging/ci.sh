#!/usr/bin/env bash
# CI for the packaged app (run after the test suite): build the bundle and the .deb, install the
# .deb, check the INSTALLED app (version, --self-test, every CLI sub-command on tiny inputs,
# missing display, a real window under Xvfb with a screenshot that must not be blank, cold
# start), uninstall it and check nothing is left.
#
#   bash packaging/ci.sh            (root, or a user with sudo; Debian/Ubuntu)
#
# Prints the figures: unpacked bundle MB, .deb MB, cold start (median of 3), self-test seconds.
# Artifacts: dist/*.deb, dist/*.tar.gz, build/ci/screenshot.png.
set -euo pipefail
cd "$(dirname "$0")/.."
STARTED=$(date +%s)
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
OUT=build/ci
rm -rf "$OUT"
mkdir -p "$OUT"
step() { printf '\n=== %s\n' "$*"; }
fail() {
  echo "ci.sh: FAILED: $*" >&2
  exit 1
}

step "system packages"
NEEDED=(binutils xvfb xauth imagemagick x11-utils libegl1 libgl1 libfontconfig1
  libxkbcommon-x11-0 libxcb-cursor0 libdbus-1-3)
missing=()
for package in "${NEEDED[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

step "build: clean venv, PyInstaller bundle, .deb, .tar.gz"
if dpkg-query -W qbi-desktop >/dev/null 2>&1; then $SUDO dpkg --purge qbi-desktop >/dev/null; fi
bash packaging/build_linux.sh
DEB=$(ls -t dist/qbi-desktop_*.deb | head -1)
TARBALL=$(ls -t dist/qbi-desktop-*-linux-*.tar.gz | head -1)
VERSION=$(dpkg-deb -f "$DEB" Version)
BUNDLE_MB=$(du -sm dist/qbi-desktop | cut -f1)
BUNDLE_BYTES=$(du -sb dist/qbi-desktop | cut -f1) # apparent size, what a file manager shows
DEB_MB=$(du -m "$DEB" | cut -f1)
TAR_MB=$(du -m "$TARBALL" | cut -f1)

step "install $DEB"
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "./$DEB" >/dev/null
dpkg -L qbi-desktop >"$OUT/installed-files.txt"
for path in /usr/bin/qbi-desktop /opt/qbi-desktop/qbi-desktop /usr/share/applications/qbi-desktop.desktop \
  /usr/share/icons/hicolor/48x48/apps/qbi-desktop.png /usr/share/icons/hicolor/scalable/apps/qbi-desktop.svg; do
  [ -e "$path" ] || fail "$path missing after install"
done
grep -q "^MimeType=.*image/tiff" /usr/share/applications/qbi-desktop.desktop || fail "no TIFF MIME type"
if command -v desktop-file-validate >/dev/null; then
  desktop-file-validate /usr/share/applications/qbi-desktop.desktop
fi
[ "$(command -v qbi-desktop)" = /usr/bin/qbi-desktop ] || fail "qbi-desktop is not the installed launcher"
[ "$(qbi-desktop --version)" = "qbi-desktop $VERSION" ] || fail "--version: $(qbi-desktop --version)"
echo "installed: $(qbi-desktop --version)"

HOME_DIR=$(mktemp -d)
export QBI_DESKTOP_HOME=$HOME_DIR # the checks never touch the CI user's settings

step "installed self-test"
t0=$(date +%s.%N)
env -u QT_QPA_PLATFORM qbi-desktop --self-test | tee "$OUT/self-test.txt" || fail "self-test"
SELFTEST_S=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN {printf "%.1f", a - b}')

step "installed command-line jobs: every sub-command once on tiny inputs"
# packaging/smoke_frozen.py: simulate, detect-spots, import/info/export, the baselines, augment
# (with spawned worker processes); what the self-test does not reach, so that a module or
# library left out of the bundle cannot break a command unnoticed.
t0=$(date +%s.%N)
"${PYTHON:-python3}" packaging/smoke_frozen.py --app qbi-desktop | tee "$OUT/smoke.txt" ||
  fail "command-line smoke runs"
SMOKE_S=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN {printf "%.1f", a - b}')

step "missing display: a message and a non-zero exit, no crash"
set +e
env -u DISPLAY -u WAYLAND_DISPLAY -u QT_QPA_PLATFORM qbi-desktop 2>"$OUT/no-display.txt"
code_unset=$?
env -u WAYLAND_DISPLAY -u QT_QPA_PLATFORM DISPLAY=:93 qbi-desktop 2>"$OUT/dead-display.txt"
code_dead=$?
set -e
cat "$OUT/no-display.txt" "$OUT/dead-display.txt"
[ "$code_unset" -eq 3 ] || fail "no DISPLAY: exit code $code_unset, expected 3"
[ "$code_dead" -eq 3 ] || fail "dead DISPLAY: exit code $code_dead, expected 3"
grep -q "no display found" "$OUT/no-display.txt" || fail "no message without a display"
grep -q "cannot connect to the X display" "$OUT/dead-display.txt" || fail "no message for a dead display"

step "a real window under Xvfb: cold start, a screenshot, a second launch"
qbi-desktop simulate --count 2 --size 1024 --seed 3 --out "$OUT/images" >/dev/null
IMAGE=$(ls "$OUT"/images/sim_0000.tif)
cat >"$OUT/gui.sh" <<'EOF'
#!/usr/bin/env bash
# Runs inside xvfb-run: three cold starts to the first drawn image, then a window to photograph.
set -euo pipefail
out=$1
image=$2
unset QT_QPA_PLATFORM WAYLAND_DISPLAY
for run in 1 2 3; do
  sync
  echo 3 >/proc/sys/vm/drop_caches 2>/dev/null && dropped=yes || dropped=no
  t0=$(date +%s.%N)
  ready=$(QBI_DESKTOP_REPORT_READY=1 qbi-desktop "$image" | awk '/^ready/ {print $2}')
  [ -n "$ready" ] || { echo "run $run: the app never reported a drawn image" >&2; exit 1; }
  awk -v a="$ready" -v b="$t0" 'BEGIN {printf "%.3f\n", a - b}' >>"$out/cold-start.txt"
  echo "cold start run $run: $(tail -1 "$out/cold-start.txt") s (page cache dropped: $dropped)"
done
qbi-desktop "$image" &
app=$!
# Wait for this window (the log already says "opened" from the cold starts), up to 60 s: a busy
# machine can take several seconds to start it.
for _ in $(seq 1 300); do
  xwininfo -root -tree 2>/dev/null | grep -q "sim_0000.tif — QBI Desktop" && break
  sleep 0.2
done
sleep 1.5 # let the first frame and the docks paint
xwininfo -root -tree | grep -i "QBI Desktop" | head -3
import -window root "$out/screenshot.png"
# a second launch hands its file to this window and exits
second=${image/sim_0000/sim_0001}
timeout 20 qbi-desktop "$second" 2>"$out/second-launch.txt"
cat "$out/second-launch.txt"
grep -q "already running" "$out/second-launch.txt"
for _ in $(seq 1 50); do
  grep -q "opened .*sim_0001.tif" "$QBI_DESKTOP_HOME/logs/qbi-desktop.log" && break
  sleep 0.2
done
grep -q "opened .*sim_0001.tif" "$QBI_DESKTOP_HOME/logs/qbi-desktop.log" || {
  echo "the running window did not open the second launch's file" >&2
  exit 1
}
echo "second launch: file opened in the running window"
kill -0 "$app" # still running
kill "$app"
wait "$app" || true
EOF
chmod +x "$OUT/gui.sh"
xvfb-run -a -s "-screen 0 1600x1000x24" "$OUT/gui.sh" "$OUT" "$IMAGE"
COLD_MEDIAN=$(sort -n "$OUT/cold-start.txt" | sed -n 2p)
COLOURS=$(identify -format '%k' "$OUT/screenshot.png")
SPREAD=$(identify -format '%[fx:standard_deviation]' "$OUT/screenshot.png")
echo "screenshot: $COLOURS distinct colours, grey-level spread $SPREAD"
SCREENSHOT=passed
if [ "$COLOURS" -lt 64 ] || awk -v s="$SPREAD" 'BEGIN {exit !(s < 0.05)}'; then SCREENSHOT=FAILED; fi

step "uninstall"
$SUDO dpkg -r qbi-desktop >/dev/null
left=()
while read -r path; do
  # Shared folders (/usr/share/...) stay; every file and folder of our own must be gone.
  if [ -e "$path" ] && { [ ! -d "$path" ] || [[ $path == /opt/qbi-desktop* ]]; }; then
    left+=("$path")
  fi
done <"$OUT/installed-files.txt"
[ -e /opt/qbi-desktop ] && left+=(/opt/qbi-desktop)
[ -e /usr/bin/qbi-desktop ] && left+=(/usr/bin/qbi-desktop)
[ ${#left[@]} -eq 0 ] || fail "left behind after dpkg -r: ${left[*]:0:5}"
echo "uninstalled: no file of the package is left"
$SUDO dpkg --purge qbi-desktop >/dev/null # forget it in dpkg's status too
rm -rf "$HOME_DIR"

step "figures"
echo "unpacked bundle:       $BUNDLE_MB MiB on disk, $((BUNDLE_BYTES / 1000000)) MB of files (target <= 250)"
echo ".deb:                  $DEB_MB MB (target <= 120)"
echo "portable .tar.gz:      $TAR_MB MB"
echo "cold start (median 3): $COLD_MEDIAN s (target <= 3)"
echo "installed self-test:   $SELFTEST_S s (target <= 30)"
echo "command smoke runs:    $SMOKE_S s ($(tail -1 "$OUT/smoke.txt"))"
echo "screenshot check:      $SCREENSHOT ($OUT/screenshot.png)"
echo "ci.sh took $(($(date +%s) - STARTED)) s"
[ "$SCREENSHOT" = passed ] || fail "the screenshot of the window is blank"
