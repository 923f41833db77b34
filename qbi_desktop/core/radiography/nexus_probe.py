"""A damaged HDF5 file must not take the app down with it.

The HDF5 C library can crash the process (segmentation fault) on crafted or damaged metadata:
one changed byte of a variable-length string attribute is enough, and no Python ``except``
catches that. So before a file is opened here, its metadata (every group and dataset, their
attributes, filters and chunk index) is read once in a forked child; a child killed by a signal
or not finishing in :data:`PROBE_SECONDS` means the file is refused, naming it. The verdict is
kept per file version (device, inode, size, modification time), so a file is probed once per
session however many frames are read from it. A fork costs a few ms; where there is no fork
(Windows) the file is opened without the probe.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

#: a child still reading the metadata after this long is killed and the file refused
PROBE_SECONDS = 20.0

_verdicts: dict[tuple, str | None] = {}
_lock = threading.Lock()


def _walk(path: Path) -> None:
    """Read everything HDF5 decodes before a frame is shown (runs in the child)."""
    import h5py

    with h5py.File(path, "r") as f:

        def visit(_name: str, obj) -> None:
            for key in obj.attrs:
                try:
                    obj.attrs[key]
                except Exception:  # noqa: BLE001 - a Python error is reported in-process
                    pass
            if isinstance(obj, h5py.Dataset):
                _ = obj.dtype, obj.shape, obj.chunks, obj.is_virtual, obj.external
                create = obj.id.get_create_plist()
                for i in range(create.get_nfilters()):
                    create.get_filter(i)
                if obj.chunks is not None and hasattr(obj.id, "chunk_iter"):
                    # one walk of the chunk index (get_chunk_info(i) walks it again per chunk:
                    # 25 s for 2 000 chunks of a 20 000-frame scan)
                    obj.id.chunk_iter(lambda _info: None)

        visit("/", f)
        f.visititems(lambda name, obj: visit(name, obj))


def _child(path: Path) -> None:
    try:
        import faulthandler

        faulthandler.disable()  # the crash is the verdict, not a traceback on the terminal
        _walk(path)
    except BaseException:  # noqa: BLE001 - Python errors are named by the caller's own reading
        pass
    finally:
        os._exit(0)


def crash_reason(path: str | Path) -> str | None:
    """Why HDF5 cannot be trusted with ``path`` (it crashed or hung reading the metadata in a
    child process), or None when the metadata reads (or no child can be forked here)."""
    path = Path(path)
    if not hasattr(os, "fork"):
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None  # the caller's own open names a missing file
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    with _lock:
        if key in _verdicts:
            return _verdicts[key]
    import h5py

    # no other thread is inside HDF5 while the child is made: its copy of the library is whole
    with h5py._objects.phil:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child ends in os._exit
            _child(path)
    deadline = time.monotonic() + PROBE_SECONDS
    delay, verdict = 0.001, None
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            if os.WIFSIGNALED(status):
                name = signal.Signals(os.WTERMSIG(status)).name
                verdict = (
                    f"damaged HDF5 file: reading its structure crashes the HDF5 library "
                    f"({name}); not opened"
                )
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            verdict = (
                f"reading its HDF5 structure did not finish in {PROBE_SECONDS:.0f} s "
                "(a damaged or crafted file?): not opened"
            )
            break
        time.sleep(delay)
        delay = min(delay * 2, 0.02)
    with _lock:
        _verdicts[key] = verdict
    return verdict
