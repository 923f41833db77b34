"""One running QBI Desktop per user: a second launch hands its files to the first and exits.

Why: people double-click TIFFs in the file manager one after the other; each click should add
the image to the window they are working in, not start a second app that fights over the same
settings and recovery journals.

How: the first instance holds a lock file and listens on a local socket (QLocalServer: a Unix
socket / a Windows named pipe, reachable by this user only). Both names are keyed by the user's
settings folder and by the display session (see :func:`session_identity`), so two users, two
``QBI_DESKTOP_HOME`` folders or two VNC sessions of one shared account never meet. A later launch
that cannot take the lock connects, sends one JSON line ``{"files": [absolute paths]}``, waits
for ``ok`` and exits 0; the first instance opens the files and raises its window. If the first
instance does not answer within a few seconds (hung, or being killed) the new launch starts on
its own instead of leaving the user with nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from PySide6.QtCore import QLockFile, QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from qbi_desktop.core.paths import user_dir

log = logging.getLogger("qbi_desktop")

CONNECT_TIMEOUT_MS = 4000  # the first instance may still be starting: keep trying this long
REPLY_TIMEOUT_MS = 5000


def session_identity(environ: Mapping[str, str] | None = None) -> str:
    """What tells this user's desktop sessions apart: the display a window would appear on.

    Shared beamline accounts run several VNC / X sessions at once; a launch on ``:78`` must
    never hand its files to a window on ``:79``. The X display (its screen suffix dropped:
    ``:78.0`` is the ``:78`` server) and the Wayland socket name identify the session the
    window would show on; without either (headless, offscreen) the login session id does.
    On Windows each logon session (RDP, fast user switching) has its own id.
    """
    env = os.environ if environ is None else environ
    if sys.platform == "win32":
        return f"win-session={_windows_session_id()}"
    parts = []
    display = env.get("DISPLAY", "")
    if display:
        parts.append("x=" + re.sub(r"(:\d+)\.\d+$", r"\1", display))
    if env.get("WAYLAND_DISPLAY"):
        parts.append("wayland=" + env["WAYLAND_DISPLAY"])
    if not parts and env.get("XDG_SESSION_ID"):
        parts.append("session=" + env["XDG_SESSION_ID"])
    return ";".join(parts)


def _windows_session_id() -> int:
    try:
        import ctypes

        session = ctypes.c_ulong(0)
        kernel32 = ctypes.windll.kernel32
        if kernel32.ProcessIdToSessionId(kernel32.GetCurrentProcessId(), ctypes.byref(session)):
            return int(session.value)
    except (OSError, AttributeError):
        pass
    return -1


def instance_key(environ: Mapping[str, str] | None = None) -> str:
    """A short name unique to this user, settings folder and display session."""
    identity = f"{user_dir('config').resolve()}\n{session_identity(environ)}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return f"qbi-desktop-{digest}"


class InstanceServer(QObject):
    """The first instance's side: receives file lists from later launches."""

    files_received = Signal(list)

    def __init__(self, key: str, lock: QLockFile):
        super().__init__()
        self.key = key
        self.lock = lock  # held while we run; released (and removed) when we exit
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self.server.newConnection.connect(self._accept)
        # A socket left behind by a crashed instance would block listen(): we hold the lock,
        # so nobody else is using that name.
        QLocalServer.removeServer(key)
        if not self.server.listen(key):
            log.warning("single instance: cannot listen on %s: %s", key, self.server.errorString())

    def _accept(self) -> None:
        while self.server.hasPendingConnections():
            socket = self.server.nextPendingConnection()
            buffer = bytearray()

            def read(socket=socket, buffer=buffer) -> None:
                buffer.extend(bytes(socket.readAll()))
                if b"\n" not in buffer:
                    return
                line = bytes(buffer).split(b"\n", 1)[0]
                try:
                    files = [str(f) for f in json.loads(line.decode("utf-8"))["files"]]
                except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                    log.warning("single instance: ignored a malformed message")
                    socket.disconnectFromServer()
                    return
                socket.write(b"ok\n")
                socket.flush()
                socket.disconnectFromServer()
                log.info("second launch: opening %d file(s) here", len(files))
                self.files_received.emit(files)

            socket.readyRead.connect(read)
            socket.disconnected.connect(socket.deleteLater)
            if socket.bytesAvailable():
                read()

    def close(self) -> None:
        self.server.close()
        self.lock.unlock()


def send_to_running(key: str, files: list[str], timeout_ms: int = CONNECT_TIMEOUT_MS) -> bool:
    """Hand ``files`` to the running instance; True when it confirmed."""
    message = (json.dumps({"files": files}) + "\n").encode("utf-8")
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        socket = QLocalSocket()
        socket.connectToServer(key)
        if socket.waitForConnected(500):
            socket.write(message)
            socket.flush()
            # False when the bytes already went out: the reply below is what counts
            socket.waitForBytesWritten(REPLY_TIMEOUT_MS)
            reply = b""
            while b"\n" not in reply and socket.waitForReadyRead(REPLY_TIMEOUT_MS):
                reply += bytes(socket.readAll())
            socket.abort()
            return reply.startswith(b"ok")
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


def claim(files: list[str], notify: Callable[[str], None]) -> InstanceServer | _NoServer | None:
    """Become the running instance (returns its server), or hand ``files`` over (returns None).

    ``notify`` receives a line for the user when the files went to the running instance.
    When no instance answers, this launch becomes an independent one (returns a server that
    does not listen) rather than failing.
    """
    key = instance_key()
    lock = QLockFile(str(Path(tempfile.gettempdir()) / f"{key}.lock"))
    lock.setStaleLockTime(0)  # stale = its process is gone (checked by pid), not by age
    if lock.tryLock(0):
        return InstanceServer(key, lock)
    absolute = [str(Path(f).expanduser().absolute()) for f in files]
    if send_to_running(key, absolute):
        what = f"{len(absolute)} file(s)" if absolute else "the window"
        notify(f"QBI Desktop is already running: showed {what} there.")
        return None
    log.warning("single instance: the running instance did not answer; starting a new one")
    return _independent(key, lock)


def _independent(key: str, lock: QLockFile) -> InstanceServer | None:
    """No usable first instance: run anyway, without serving others."""
    if lock.tryLock(0):  # it went away meanwhile: serve after all
        return InstanceServer(key, lock)
    return _NoServer()


class _NoServer:
    """Stands in for a server when another (unresponsive) instance holds the name."""

    class _Never:
        def connect(self, *_args) -> None:
            pass

    files_received = _Never()

    def close(self) -> None:
        pass
