"""One run per run directory: an exclusive lock on ``run_dir/run.lock``, held while the run lives.

The lock is an ``flock`` on the file, so the kernel drops it when its process dies however it
dies: a killed run never blocks the resume that follows. The file holds who holds it (pid,
host, start time, command), which a second run started into the same directory names in its
error. Under torchrun, rank 0 takes the lock for all processes of its run and tells them
whether it got it, so every process of a second run stops at once with the same message.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from .distributed import Dist

LOCK_NAME = "run.lock"

try:
    import fcntl
except ModuleNotFoundError:  # Windows: no flock
    fcntl = None


class RunDirectoryInUse(RuntimeError):
    """Another run holds the run directory."""


def _holder_info() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime()),
            "command": " ".join(sys.orig_argv)}


def _describe_holder(text: str) -> str:
    try:
        info = json.loads(text)
        return f"pid {info['pid']} on host {info['host']}, started {info['started']} ({info['command']})"
    except (json.JSONDecodeError, KeyError, TypeError):
        return "a process that has not written its details yet"


class RunLock:
    """``with RunLock(run_dir, env):`` holds the directory for this run (all its processes).

    ``acquire`` creates ``run_dir`` if needed; ``release`` removes the lock file and, if this
    run created ``run_dir`` and left nothing in it, the directory too (a run that failed before
    writing anything leaves no trace).
    """

    def __init__(self, run_dir: Path, env: Dist) -> None:
        self.run_dir, self.env = Path(run_dir), env
        self.path = self.run_dir / LOCK_NAME
        self._fd: int | None = None
        self._created: list[Path] = []

    def acquire(self) -> None:
        error = self._try_acquire() if self.env.is_main else None
        if self.env.distributed:  # rank 0 tells every process of this run whether it holds the directory
            import torch.distributed as dist

            message = [error]
            dist.broadcast_object_list(message, src=0)
            error = message[0]
        if error is not None:
            raise RunDirectoryInUse(error)

    def _try_acquire(self) -> str | None:
        """Lock on this process; the error message if another run holds the directory."""
        self._make_run_dir()
        if fcntl is None:
            return None  # no flock on this platform: nothing to hold (documented in docs/recipes.md)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 65536).decode("utf-8", "replace")
                os.close(fd)
                self._remove_created_dirs()
                return (f"output_dir {self.run_dir} is in use by another run: {_describe_holder(holder)}. "
                        "Wait for it to finish, or give this run another output_dir")
            # the holder before us may have removed the file between our open and our lock: retry on the new one
            if self.path.exists() and os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(_holder_info()).encode())
        self._fd = fd
        return None

    def _make_run_dir(self) -> None:
        missing = [p for p in [self.run_dir, *self.run_dir.parents] if not p.exists()]
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._created = missing  # deepest first

    def _remove_created_dirs(self) -> None:
        for directory in self._created:
            try:
                directory.rmdir()  # only if empty
            except OSError:
                break
        self._created = []

    def release(self) -> None:
        if self._fd is None:
            if self.env.is_main:
                self._remove_created_dirs()
            return
        self.path.unlink(missing_ok=True)  # while still holding it: a waiting open retries on a new file
        os.close(self._fd)
        self._fd = None
        self._remove_created_dirs()

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
