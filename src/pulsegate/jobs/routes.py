"""Operator endpoints for scheduled jobs: list them, run one now, read its runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from pulsegate.api.auth import AdminOnly
from pulsegate.api.json_body import StrictJsonRoute
from pulsegate.api.openapi import error_responses
from pulsegate.db.engine import unit_of_work
from pulsegate.jobs import service
from pulsegate.jobs.runner import JobRunner
from pulsegate.jobs.schemas import JobList, JobRunOut, JobRunPage

router = APIRouter(
    prefix="/admin/jobs", tags=["admin"], dependencies=[AdminOnly], route_class=StrictJsonRoute
)


def _runner(request: Request) -> JobRunner:
    runner: JobRunner = request.app.state.job_runner
    return runner


@router.get("", summary="Every job with its schedule and last run")
async def list_jobs(request: Request) -> JobList:
    """Every scheduled job (outbox delivery, session sweep, the nightly chain, retention, erasures)
    with its schedule, next trigger and last run."""
    runner = _runner(request)
    async with unit_of_work(request.app.state.engine) as session:
        return await service.list_jobs(
            session,
            names=list(runner.jobs),
            schedules=request.app.state.job_schedules,
            now=runner.clock(),
        )


@router.post(
    "/{name}/runs",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Run a job now, in the background (409 job_running while it runs anywhere)",
    responses=error_responses(conflict="The job runs in some process now (`job_running`)"),
)
async def run_job(request: Request, name: str) -> JobRunOut:
    """Starts a run of the job now, in the background, and answers 202 with the run; poll it at `GET
    .../runs/{run_id}`. 409 `job_running` while it runs in any process."""
    run = await _runner(request).start(name, trigger="manual")
    return JobRunOut.model_validate(run)


@router.get("/{name}/runs", summary="A job's runs, newest first")
async def list_runs(
    request: Request,
    name: str,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=service.PAGE_SIZE)] = service.PAGE_SIZE,
) -> JobRunPage:
    """The job's recorded runs, newest first: trigger, times, status (`running`, `succeeded`,
    `idle`, `failed`, `interrupted`), counts and error."""
    async with unit_of_work(request.app.state.engine) as session:
        return await service.list_runs(
            session, job=name, names=list(_runner(request).jobs), cursor=cursor, limit=limit
        )


@router.get("/{name}/runs/{run_id}", summary="One run (poll it until it is not running)")
async def get_run(request: Request, name: str, run_id: int) -> JobRunOut:
    """One run of the job; poll it until its status is not `running`."""
    async with unit_of_work(request.app.state.engine) as session:
        return await service.get_run(session, job=name, run_id=run_id)
