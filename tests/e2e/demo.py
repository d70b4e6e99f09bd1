"""What the end-to-end tests of `manage.py run_demo` share: a free port and the demo's processes."""

from __future__ import annotations

import socket
from pathlib import Path

import psutil

from config.embedded import redis_port

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ours(data_dir: str) -> list[psutil.Process]:
    """The live processes of the demo running on `data_dir`."""
    # Redis rewrites its process title (and with it its environment): it is found by its port.
    redis_address = f"127.0.0.1:{redis_port(Path(data_dir))}"
    found = []
    for proc in psutil.process_iter(["cmdline", "environ", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmdline = " ".join(proc.info["cmdline"] or [])
            environ = proc.info["environ"] or {}
            if (
                data_dir in cmdline
                or redis_address in cmdline
                or environ.get("DASHBOARD_DATA_DIR") == data_dir
            ):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found
