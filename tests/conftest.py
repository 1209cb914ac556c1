from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Installed plugins must not leak into tests that build their own registries; tests that
# check entry-point discovery build a Registry(autoload=True) explicitly.
os.environ.setdefault("VIDEOGW_DISABLE_PLUGIN_AUTOLOAD", "1")
# A gateway built without a store opens the ledger of LedgerConfig; tests must never write
# to the user's data directory, so they get an in-memory one unless they pass tmp_path.
os.environ.setdefault("VIDEOGW_LEDGER", "memory")
# The CLI looks for videogw.toml in the user config directory: never the developer's own.
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="videogw-test-config-")


# -- PostgreSQL (see tests/test_ledger_postgres.py for where it comes from) ---------------
URL_ENV = "VIDEOGW_TEST_POSTGRES_URL"
REQUIRE_ENV = "VIDEOGW_REQUIRE_POSTGRES"
LOCAL_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"PostgreSQL is required ({REQUIRE_ENV}=1) but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    try:
        import psycopg
    except ImportError:
        _unavailable("psycopg is not installed (pip install 'videogw[postgres]')")
        raise  # unreachable: skip and fail raise
    url = os.environ.get(URL_ENV)
    source = f"${URL_ENV}" if url else "127.0.0.1:5432"
    try:
        with psycopg.connect(url or LOCAL_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        if url is None:
            cluster = throwaway_cluster()
            if cluster is not None:
                return cluster.url
        hint = "" if url else f" (set {URL_ENV} to a server's URL, or put initdb on PATH)"
        _unavailable(f"no PostgreSQL server answers at {source}: {exc}{hint}")
    return url or LOCAL_URL


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


@pytest.fixture
def schema(postgres_url: str) -> Iterator[str]:
    import psycopg
    from psycopg import sql

    name = f"videogw_test_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
