"""The reads both SQL backends make, written once: a job by id or by idempotency key, the
jobs a filter selects, a job's stored request. Each backend names its placeholder and how
its job and request columns read as text, and supplies `_read`."""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from pydantic import ValidationError

from ..errors import LedgerCorruptError
from ..models import GenerationRequest, Job, JobStatus
from .base import Ledger, job_query, load_request

__all__ = ["SQLLedger"]

log = logging.getLogger("videogw.ledger")


class SQLLedger(Ledger):
    PLACEHOLDER: ClassVar[str]  # "?" or "%s"
    JOB_TEXT: ClassVar[str]  # the job column, read as JSON text
    REQUEST_TEXT: ClassVar[str]  # the request column, read as JSON text

    @property
    def select_jobs(self) -> str:
        return f"SELECT id, {self.JOB_TEXT} FROM jobs"  # noqa: S608 - column names, no input

    @abstractmethod
    def _read(self, query: str, args: Sequence[Any] = ()) -> list[Any]:
        """Rows of one query; a backend error is a typed `LedgerError`."""

    def _parse(self, job_id: str, text: str) -> Job:
        try:
            return Job.model_validate_json(text)
        except (ValidationError, ValueError) as exc:
            raise LedgerCorruptError(job_id, str(exc).splitlines()[0]) from None

    def _jobs(self, query: str, args: Sequence[Any] = ()) -> list[Job]:
        return self._parse_rows(self._read(query, args))

    def _parse_rows(self, rows: Iterable[Sequence[Any]]) -> list[Job]:
        """Jobs from (id, JSON text, ...) rows; one that cannot be read is logged and
        skipped, the others are unaffected."""
        jobs = []
        for job_id, text, *_ in rows:
            try:
                jobs.append(self._parse(job_id, text))
            except LedgerCorruptError as exc:
                log.error("%s; skipped (the other jobs are unaffected)", exc)
        return jobs

    def get(self, job_id: str) -> Job | None:
        p = self.PLACEHOLDER
        rows = self._read(f"SELECT {self.JOB_TEXT} FROM jobs WHERE id = {p}", (job_id,))  # noqa: S608
        return self._parse(job_id, rows[0][0]) if rows else None

    def get_by_key(self, idempotency_key: str) -> Job | None:
        rows = self._read(
            f"SELECT j.id, j.{self.JOB_TEXT} FROM idempotency_keys k "  # noqa: S608
            f"JOIN jobs j ON j.id = k.job_id WHERE k.key = {self.PLACEHOLDER}",
            (idempotency_key,),
        )
        return self._parse(rows[0][0], rows[0][1]) if rows else None

    def find(
        self,
        *,
        statuses: Iterable[JobStatus] | None = None,
        provider: str | None = None,
        model: str | None = None,
        id_prefix: str | None = None,
        newest_first: bool = False,
        limit: int | None = None,
    ) -> list[Job]:
        found = job_query(
            self.select_jobs,
            self.PLACEHOLDER,
            statuses=statuses,
            provider=provider,
            model=model,
            id_prefix=id_prefix,
            newest_first=newest_first,
            limit=limit,
        )
        return self._jobs(*found) if found is not None else []

    def load_request(self, job_id: str) -> GenerationRequest | None:
        rows = self._read(
            f"SELECT {self.REQUEST_TEXT} FROM jobs WHERE id = {self.PLACEHOLDER}",  # noqa: S608
            (job_id,),
        )
        return load_request(rows[0][0]) if rows and rows[0][0] else None
