"""A PostgreSQL cluster of the tests' own, from `initdb` and `pg_ctl`: what the
`postgres_url` fixture (tests/conftest.py) falls back to when no server answers."""

from __future__ import annotations

import os
from pathlib import Path


class Cluster:
    """A PostgreSQL cluster of our own, from `initdb` and `pg_ctl` (trust auth, user
    postgres, on 127.0.0.1 and a free port), stopped and deleted at exit. As root it runs
    as an unprivileged user (`nobody`): PostgreSQL refuses to run as root."""

    def __init__(self, initdb: str, pg_ctl: str) -> None:
        import atexit
        import socket
        import tempfile

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.dir = Path(tempfile.mkdtemp(prefix="videogw-pg-"))
        self.data = self.dir / "data"
        self.pg_ctl = pg_ctl
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            import pwd

            user = pwd.getpwnam("nobody")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
            self.prefix = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}"]
            self.prefix += ["--clear-groups", "--"]
        self._run(initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync")
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.dir / "log")
        self._run(pg_ctl, "-D", str(self.data), "-o", options, "-l", log, "-w", "start")
        atexit.register(self.stop)
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        import subprocess

        subprocess.run([*self.prefix, *args], check=True, capture_output=True, timeout=120)

    def stop(self) -> None:
        import shutil
        import subprocess

        subprocess.run(
            [*self.prefix, self.pg_ctl, "-D", str(self.data), "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
            timeout=60,
        )
        shutil.rmtree(self.dir, ignore_errors=True)


def throwaway_cluster() -> Cluster | None:
    """A cluster of our own when `initdb` and `pg_ctl` are on PATH (None otherwise, or
    when it fails to start: the caller reports why the PostgreSQL tests cannot run)."""
    import shutil
    import subprocess

    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb is None or pg_ctl is None:
        return None
    try:
        return Cluster(initdb, pg_ctl)
    except (OSError, KeyError, subprocess.SubprocessError):
        return None
