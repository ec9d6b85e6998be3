"""A throwaway PostgreSQL server for tests and benches: initdb into a temporary folder, listen on a free
port (and a socket in the same folder), stop and delete it all at the end. Needs the server binaries
(Debian's ``postgresql`` package, which .ci/run installs) and no network.

As root (CI), the server runs as the ``postgres`` user (Debian's package creates it), since initdb refuses
root: the child drops to it before exec (``subprocess``'s ``user=``), so its pid is the server's.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

__all__ = ["PostgresServer", "find_binaries", "CannotStart", "running_postgres"]


class CannotStart(RuntimeError):
    """No PostgreSQL server could be started here: the reason."""


def find_binaries() -> Path:
    """The newest installed server's bin folder (ORBOT_TEST_PG_BIN overrides)."""
    if override := os.environ.get("ORBOT_TEST_PG_BIN"):
        if not (Path(override) / "initdb").exists():
            raise CannotStart(f"ORBOT_TEST_PG_BIN={override} holds no initdb")
        return Path(override)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    if initdb := shutil.which("initdb"):
        return Path(initdb).parent
    raise CannotStart("no PostgreSQL server binaries (initdb) found: install Debian's postgresql package")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """``with PostgresServer() as server: server.new_database()`` -> an SQLAlchemy URL of a fresh database.

    ``durable=False`` (tests) turns fsync off: nothing here must survive a crash of the machine."""

    def __init__(self, durable: bool = False, max_connections: int = 200):
        self.bin = find_binaries()
        self.durable = durable
        self.max_connections = max_connections
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="orbot-pg-"))
        self.data = self.root / "data"
        self.process: subprocess.Popen | None = None
        self._as: dict = {}
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise CannotStart("running as root and there is no postgres user to run the server as") from None
            self._as = {"user": "postgres", "group": "postgres", "extra_groups": []}

    def __enter__(self) -> PostgresServer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        if self._as:
            shutil.chown(self.root, "postgres", "postgres")
        self.root.chmod(0o700)
        init = subprocess.run([str(self.bin / "initdb"), "-D", str(self.data), "-U", "orbot", "-A", "trust",
                               "-E", "UTF8", "--no-sync"], capture_output=True, text=True, cwd=self.root, **self._as)
        if init.returncode != 0:
            raise CannotStart(f"initdb failed: {init.stderr.strip() or init.stdout.strip()}")
        options = ["-c", f"port={self.port}", "-c", "listen_addresses=127.0.0.1", "-c",
                   f"unix_socket_directories={self.root}", "-c", f"max_connections={self.max_connections}",
                   "-c", "shared_buffers=64MB"]
        if not self.durable:
            options += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        self.process = subprocess.Popen([str(self.bin / "postgres"), "-D", str(self.data), *options], cwd=self.root,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **self._as)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise CannotStart(f"postgres exited: {self.process.stderr.read().decode()[-2000:]}")  # type: ignore
            try:
                with psycopg.connect(self._dsn("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                time.sleep(0.1)
        raise CannotStart("postgres did not accept connections within 30 s")

    def _dsn(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user=orbot dbname={database}"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://orbot@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; its SQLAlchemy URL."""
        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self._dsn("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown: sessions ended, no wait for clients
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()
        shutil.rmtree(self.root, ignore_errors=True)



@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """A server for a test module's fixture. In CI (``CI`` set) the PostgreSQL tests must run: a server that
    cannot start fails them; elsewhere they are skipped, with the reason."""
    server = None
    try:
        server = PostgresServer()
        server.start()
    except CannotStart as exc:
        if server is not None:
            server.stop()
        if os.environ.get("CI"):
            pytest.fail(f"the PostgreSQL tests must run in CI, but no server could start: {exc}")
        pytest.skip(f"no PostgreSQL server here: {exc}")
    try:
        yield server
    finally:
        server.stop()
