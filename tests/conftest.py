from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from routing_kit import Kit
    from videogw.emulator import FakeClock

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
            from pg_cluster import throwaway_cluster

            cluster = throwaway_cluster()
            if cluster is not None:
                return cluster.url
        hint = "" if url else f" (set {URL_ENV} to a server's URL, or put initdb on PATH)"
        _unavailable(f"no PostgreSQL server answers at {source}: {exc}{hint}")
    return url or LOCAL_URL


@pytest.fixture
def schema(postgres_url: str) -> Iterator[str]:
    import psycopg
    from psycopg import sql

    name = f"videogw_test_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


# -- the toy providers' gateways on a fake clock (tests/routing_kit.py), sync and async ----
@pytest.fixture
def clock() -> FakeClock:
    from videogw.emulator import FakeClock

    return FakeClock()


@pytest.fixture(params=["sync", "async"])
async def kit(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[Kit]:
    """Emulators for every toy provider, and gateways over them: each test runs twice, with
    the sync `Gateway` and with the `AsyncGateway` (a module may define its own `kit`)."""
    from routing_kit import Kit

    kit = Kit(request.param == "sync", clock)
    yield kit
    await kit.close()
