"""What the benchmarks share: a dedicated database per benchmark and uvicorn processes to load."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_database_url(base: str, name: str) -> str:
    """`base` with `_bench_<name>` appended to its database name."""
    parsed = urlparse(base)
    return urlunparse(parsed._replace(path="/" + parsed.path.lstrip("/") + f"_bench_{name}"))


def ensure_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = urlunparse(parsed._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def server_env(database_url: str, redis_url: str, prefix: str) -> dict[str, str]:
    """Production settings on the bench database, rate limits lifted as for any load test."""
    env = dict(os.environ)
    env.update({
        "DJANGO_SETTINGS_MODULE": "marketplace.settings", "DATABASE_URL": database_url, "REDIS_URL": redis_url,
        "SECRET_KEY": "bench-secret-key-not-for-production-0123456789abcdef", "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost", "SECURE_SSL_REDIRECT": "false", "RATELIMIT_ENABLE": "false",
        "CELERY_TASK_ALWAYS_EAGER": "true", "CHANNEL_LAYER_PREFIX": prefix, "CACHE_KEY_PREFIX": prefix,
        "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1",
    })
    return env


class Server:
    """`uvicorn <args>` on a free port, its output in var/; started when constructed."""

    def __init__(self, args: list[str], env: dict[str, str], *, workers: int = 1, ws: str = "websockets-sansio",
                 deflate: bool = False) -> None:
        self.port = free_port()
        (ROOT / "var").mkdir(exist_ok=True)
        self.log = open(ROOT / "var" / f"bench-server-{self.port}.log", "wb")  # noqa: SIM115
        command = [sys.executable, "-m", "uvicorn", *args, "--host", "127.0.0.1", "--port", str(self.port),
                   "--no-access-log", "--no-proxy-headers", "--lifespan", "off", "--log-level", "warning", "--ws", ws,
                   "--ws-per-message-deflate", "true" if deflate else "false"]
        if workers > 1:
            command += ["--workers", str(workers)]
        self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited; see {self.log.name}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    if workers > 1:
                        time.sleep(1.0 * workers)  # let every worker process import the app
                    return
            time.sleep(0.2)
        raise RuntimeError("server did not start")

    def pids(self) -> list[int]:
        """The server process and, with --workers, its worker processes."""
        children = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [self.proc.pid, *(int(pid) for pid in children.split())]

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the server's processes."""
        total = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def rss_kib(self) -> int:
        total = 0
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
        return total

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
        self.log.close()


class Connection:
    """A minimal keep-alive HTTP/1.1 client (so the load generator takes little of the cores);
    `token=None` sends no Authorization header."""

    def __init__(self, port: int, token: str | None) -> None:
        self.port, self.token = port, token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, method: str = "POST") -> int:
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        auth = f"Authorization: Token {self.token}\r\n" if self.token else ""
        request = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n{auth}"
                   "Content-Length: 0\r\nAccept: application/json\r\n\r\n")
        self.writer.write(request.encode())
        await self.writer.drain()
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        chunked = False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin1").partition(":")
            if name.lower() == "content-length":
                length = int(value.strip())
            elif name.lower() == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
        if chunked:
            while True:
                size = int((await self.reader.readline()).strip(), 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        elif length:
            await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
