"""The embedded Redis's port (config/embedded.py `redis_port`): derived from the data directory, and
never one the kernel may hand to an outgoing connection (once the demo's Redis could not start:
"bind: Address already in use", its port being a connection's local port)."""

from __future__ import annotations

from pathlib import Path

from config.embedded import REDIS_PORTS, redis_port


def _ephemeral_low() -> int:
    path = Path("/proc/sys/net/ipv4/ip_local_port_range")
    return int(path.read_text().split()[0]) if path.exists() else 32768


def test_a_data_directorys_redis_port_is_its_own_and_below_the_ephemeral_range(tmp_path):
    ports = [redis_port(tmp_path / f"data-{n}") for n in range(2000)]
    assert max(ports) < _ephemeral_low()
    assert min(ports) >= REDIS_PORTS.start
    assert redis_port(tmp_path / "data-7") == ports[7]  # the same directory, the same port
    assert len(set(ports)) > 1500  # spread over the range, so two checkouts rarely meet
