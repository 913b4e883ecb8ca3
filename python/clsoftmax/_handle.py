"""A clsm_context pointer that several threads may use at once and that is released once, after its last call."""
import threading
import weakref

from . import _lib


class Handle:
    """Calls go between enter() and exit(); close() releases the context at once when no call
    is running, else when the last one ends, as the library forbids releasing a context
    another thread is using."""

    def __init__(self, ptr):
        self.ptr = ptr
        self._lock = threading.Lock()
        self._users = 0
        self._closed = False
        self._release = weakref.finalize(self, _lib.lib.clsm_context_release, ptr)
        # At exit a daemon thread may still be in a call; the process frees all anyway.
        self._release.atexit = False

    def enter(self):
        with self._lock:
            if self._closed:
                raise ValueError("clsoftmax: the Context is closed")
            self._users += 1
        return self.ptr

    def exit(self):
        with self._lock:
            self._users -= 1
            last = self._closed and self._users == 0
        if last:
            self._release()

    def close(self):
        with self._lock:
            self._closed = True
            idle = self._users == 0
        if idle:
            self._release()
