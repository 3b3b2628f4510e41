"""Worker processes that end with the process that started them, even when it is killed with SIGKILL."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1       # linux/prctl.h


def end_with_parent(parent: int) -> None:
    """Make this process end when process ``parent`` (its parent) does: a pool worker's initializer, so that a
    killed driver leaves no workers behind (they would keep training for nobody). On Linux the kernel sends
    SIGKILL at the parent's death (prctl PR_SET_PDEATHSIG); elsewhere a daemon thread checks the parent pid."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0:
            if os.getppid() != parent:     # the parent died before the request was made
                os._exit(1)
            return
    threading.Thread(target=_watch_parent, args=(parent,), name="end-with-parent", daemon=True).start()


def _watch_parent(parent: int, every_s: float = 1.0) -> None:
    while os.getppid() == parent:
        time.sleep(every_s)
    os._exit(1)
