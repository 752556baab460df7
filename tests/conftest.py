"""Suite-wide set-up: BLAS kernels pinned to their AVX2 variants, and no test may reach the network (loopback
stays allowed for torchrun/gloo).

Bitwise golden checks (HAQ's DDPG updates against the original, OMPQ's allocation) depend on the order in which
the BLAS sums: on an AVX-512 CPU, MKL (torch's CPU matmul) and OpenBLAS (numpy's) pick wider kernels that round
differently. The pins are set before torch and numpy load their libraries and reach every subprocess; they are
no-ops on an AVX2 CPU, and a value already in the environment wins.
"""

from __future__ import annotations

import os

os.environ.setdefault("MKL_ENABLE_INSTRUCTIONS", "AVX2")
os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")

import ipaddress  # noqa: E402
import socket  # noqa: E402
from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402


class NetworkBlocked(OSError):
    """Raised when a test tries to open a non-loopback connection."""


def _is_loopback(address: object) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = address[0] if isinstance(address, tuple) and address else ""
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _is_loopback(address):
        raise NetworkBlocked(f"network access blocked in tests: {address!r}")
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if not _is_loopback(address):
        raise NetworkBlocked(f"network access blocked in tests: {address!r}")
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host, *args, **kwargs):
    if host not in (None, "localhost") and not _is_loopback((host,)):
        raise NetworkBlocked(f"name resolution blocked in tests: {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


def _blas_limits() -> dict[str, int]:
    from threadpoolctl import threadpool_info

    limits: dict[str, int] = {}
    for pool in threadpool_info():
        limits[pool["user_api"]] = max(limits.get(pool["user_api"], 0), pool["num_threads"])
    return limits


# the counts the session starts with; scipy.optimize is imported first so that its own BLAS is among them
import scipy.optimize  # noqa: E402, F401

# Under pytest-xdist (``make test`` runs two workers) each worker takes one intra-op thread, so the two workers
# do not oversubscribe the cores with four spinning OpenMP threads; the BLAS pools keep their counts.
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)
_SESSION_TORCH_THREADS = torch.get_num_threads()
_SESSION_BLAS_LIMITS = _blas_limits()


@pytest.fixture(autouse=True)
def restore_threads():
    """Entry points run in-process with ``--threads N`` limit torch and the BLAS pools for the whole process, also
    from module-scoped fixtures; after every test the counts go back to the session's (an allocation golden test,
    for one, rounds an SLSQP solution whose last bits depend on the BLAS thread count)."""
    yield
    if torch.get_num_threads() != _SESSION_TORCH_THREADS:
        torch.set_num_threads(_SESSION_TORCH_THREADS)
    if _blas_limits() != _SESSION_BLAS_LIMITS:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=_SESSION_BLAS_LIMITS)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", _guarded_getaddrinfo)


class SimulatedKill(BaseException):
    """Stands for a SIGKILL right after a checkpoint is written (nothing after it runs)."""


class KillSwitch:
    """What the ``kill_switch`` fixture hands out (see there)."""

    Killed = SimulatedKill

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._monkeypatch = monkeypatch

    def arm(self, module: object, file_name: str, count: int = 1, attr: str = "save_checkpoint") -> None:
        """``module.<attr>`` raises :class:`SimulatedKill` right after its ``count``-th write of ``file_name``."""
        real = getattr(module, attr)
        seen = [0]

        def writing_then_dying(state, path, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            out = real(state, path, *args, **kwargs)
            if os.path.basename(os.fspath(path)) == file_name:
                seen[0] += 1
                if seen[0] == count:
                    raise SimulatedKill(f"killed after writing {path}")
            return out

        self._monkeypatch.setattr(module, attr, writing_then_dying)

    def disarm(self) -> None:
        """Undo every :meth:`arm`."""
        self._monkeypatch.undo()

    @staticmethod
    def assert_same_tensors(got: dict, want: dict) -> None:
        """Same keys and bit-identical tensors (``torch.equal``) in two state dicts."""
        import torch

        assert set(got) == set(want)
        differ = [k for k in want if not torch.equal(got[k], want[k])]
        assert not differ, f"{len(differ)} of {len(want)} tensors differ, first {differ[:3]}"


@pytest.fixture
def kill_switch() -> Iterator[KillSwitch]:
    """Simulated kills for the resume tests: ``kill_switch.arm(module, "checkpoint.pth.tar", count)``, then
    ``with pytest.raises(kill_switch.Killed): main(...)``; ``kill_switch.disarm()`` before resuming."""
    with pytest.MonkeyPatch.context() as mp:
        yield KillSwitch(mp)
