"""The `pulsegate` command."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from pulsegate import __version__, serving
from pulsegate import cli_actions as actions
from pulsegate.db import migrate
from pulsegate.db.engine import create_engine, unit_of_work
from pulsegate.errors import AlreadyExists, NotFound, PulsegateError
from pulsegate.logging import configure_logging
from pulsegate.security import write_private_file
from pulsegate.settings import Settings, settings_problems
from pulsegate.workspaces import commands as tenant_commands
from pulsegate.workspaces import service as workspaces

CREDENTIALS_FILE = "credentials.json"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as error:  # before anything runs: one line per setting
        for line in settings_problems(error):
            _out(f"error: {line}", err=True)
        return 2
    configure_logging(level=settings.log_level, log_format=settings.log_format)
    handler: Callable[[argparse.Namespace, Settings], int] = args.handler
    return handler(args, settings)


JSON_HELP = "print the result, or the error, as one JSON object"

# Exit codes, distinct so that scripts can tell the outcomes apart (also in `--help`).
EXIT_CODES = {
    0: "done",
    1: "failed (the message says why)",
    2: "bad usage or a bad setting",
    3: "not found (a workspace, source, key or job named that way)",
    4: "already exists, or already running",
}


def exit_code_of(error: PulsegateError) -> int:
    if isinstance(error, NotFound):
        return 3
    if isinstance(error, AlreadyExists) or error.status_code == 409:
        return 4
    return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pulsegate",
        description=__doc__,
        epilog="exit codes: " + "; ".join(f"{code} {what}" for code, what in EXIT_CODES.items()),
    )
    parser.add_argument(
        "--version", action="version", version=f"pulsegate {__version__}", help="print the version"
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="migrate, then run the HTTP gateway")
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="HTTP processes (the background work runs in one more)",
    )
    serve.set_defaults(handler=_serve)

    commands.add_parser("migrate", help="apply database migrations").set_defaults(handler=_migrate)
    worker = commands.add_parser(
        "worker", help="migrate, then run the background work (projector, jobs) without HTTP"
    )
    # Set by `serve` for the worker it runs: stop when that process is gone (even killed).
    worker.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    worker.set_defaults(handler=_worker)

    workspace = commands.add_parser("workspace", help="manage workspaces").add_subparsers(
        required=True, metavar="ACTION"
    )
    create_workspace = workspace.add_parser("create", help="create a workspace")
    create_workspace.add_argument("name", help="its name, unique")
    create_workspace.add_argument("--json", action="store_true", help=JSON_HELP)
    create_workspace.set_defaults(handler=_run_async(actions.create_workspace))
    _session_command(workspace, "list", tenant_commands.list_workspaces, help="list the workspaces")
    delete_workspace = workspace.add_parser(
        "delete", help="offboard a workspace: delete all its data, keys and archive objects"
    )
    delete_workspace.add_argument("workspace", help="workspace name or id")
    delete_workspace.add_argument(
        "--yes", action="store_true", required=True, help="confirm: this cannot be undone"
    )
    delete_workspace.add_argument("--json", action="store_true", help=JSON_HELP)
    delete_workspace.set_defaults(handler=_run_async(actions.delete_workspace))

    source = commands.add_parser("source", help="manage sources").add_subparsers(
        required=True, metavar="ACTION"
    )
    create_source = source.add_parser("create", help="create a source and print its write key")
    create_source.add_argument("workspace", help="workspace name or id")
    create_source.add_argument("name", help="its name, unique in the workspace")
    create_source.add_argument("--webhook-secret", help="require signed webhook requests")
    create_source.add_argument(
        "--allowed-origin", action="append", dest="allowed_origins", help="repeatable"
    )
    create_source.add_argument("--json", action="store_true", help=JSON_HELP)
    create_source.set_defaults(handler=_run_async(actions.create_source))
    _session_command(
        source, "list", tenant_commands.list_sources, help="list a workspace's sources (no keys)"
    ).add_argument("workspace", help="workspace name or id")
    for action, enabled in (("enable", True), ("disable", False)):
        toggle = _session_command(
            source, action, tenant_commands.set_source_enabled, help=f"{action} a source, at once"
        )
        toggle.add_argument("workspace", help="workspace name or id")
        toggle.add_argument("source", help="source name or id")
        toggle.set_defaults(enabled=enabled)
    rotate_source = _session_command(
        source,
        "rotate",
        tenant_commands.rotate_write_key,
        help="issue a new write key; the current one works for --grace-seconds more",
    )
    rotate_source.add_argument("workspace", help="workspace name or id")
    rotate_source.add_argument("source", help="source name or id")
    rotate_source.add_argument(
        "--grace-seconds", type=int, default=86_400, help="how long the old key keeps working"
    )
    revoke_source = _session_command(
        source,
        "revoke",
        tenant_commands.rotate_write_key,
        help="stop the source's write keys at once and issue a new one",
    )
    revoke_source.add_argument("workspace", help="workspace name or id")
    revoke_source.add_argument("source", help="source name or id")

    replay = commands.add_parser(
        "replay", help="rebuild a workspace's projections from its stored messages"
    )
    replay.add_argument("--workspace", required=True, help="workspace name or id")
    replay.add_argument(
        "--since",
        type=datetime.fromisoformat,
        help="only re-apply messages received from this ISO-8601 time, over what is there",
    )
    replay.add_argument(
        "--until",
        type=datetime.fromisoformat,
        help="only re-apply messages received before this ISO-8601 time, over what is there",
    )
    replay.add_argument("--json", action="store_true", help=JSON_HELP)
    replay.set_defaults(handler=_run_async(actions.replay))

    job = commands.add_parser("jobs", help="scheduled jobs").add_subparsers(
        required=True, metavar="ACTION"
    )
    run_job = job.add_parser("run", help="run a scheduled job now, in the foreground")
    run_job.add_argument(
        "name",
        help="nightly (connector_sync, health_scores, then reverse_sync), one of those three, "
        "session_sweep, outbox_delivery, retention or erasures",
    )
    run_job.add_argument("--json", action="store_true", help=JSON_HELP)
    run_job.set_defaults(handler=_run_async(actions.run_job))
    list_jobs = job.add_parser("list", help="every job with its schedule and last run")
    list_jobs.add_argument("--json", action="store_true", help=JSON_HELP)
    list_jobs.set_defaults(handler=_run_async(actions.list_jobs))

    connector = commands.add_parser("connector", help="a workspace's connectors").add_subparsers(
        required=True, metavar="ACTION"
    )
    _session_command(
        connector, "list", actions.list_connectors, help="list a workspace's connectors"
    ).add_argument("workspace", help="workspace name or id")
    destination = commands.add_parser(
        "destination", help="a workspace's destinations"
    ).add_subparsers(required=True, metavar="ACTION")
    _session_command(
        destination,
        "list",
        actions.list_destinations,
        help="list a workspace's destinations (no keys)",
    ).add_argument("workspace", help="workspace name or id")

    apikey = commands.add_parser("apikey", help="manage workspace API keys").add_subparsers(
        required=True, metavar="ACTION"
    )
    create_key = apikey.add_parser("create", help="create a workspace API key")
    create_key.add_argument("workspace", help="workspace name or id")
    create_key.add_argument("--name", default="default", help="what the key is for")
    create_key.add_argument("--json", action="store_true", help=JSON_HELP)
    create_key.set_defaults(handler=_run_async(actions.create_api_key))
    _session_command(
        apikey,
        "list",
        tenant_commands.list_api_keys,
        help="list a workspace's API keys (no secrets)",
    ).add_argument("workspace", help="workspace name or id")
    rotate_key = _session_command(
        apikey,
        "rotate",
        tenant_commands.rotate_api_key,
        help="issue a new API key; the replaced one works for --grace-seconds more",
    )
    rotate_key.add_argument("workspace", help="workspace name or id")
    rotate_key.add_argument("key_id", help="the key's id (apikey list)")
    rotate_key.add_argument(
        "--grace-seconds", type=int, default=86_400, help="how long the old key keeps working"
    )
    revoke_key = _session_command(
        apikey, "revoke", tenant_commands.revoke_api_key, help="refuse an API key from now on"
    )
    revoke_key.add_argument("workspace", help="workspace name or id")
    revoke_key.add_argument("key_id", help="the key's id (apikey list)")
    return parser


SessionCommand = Callable[[Any, argparse.Namespace], Coroutine[Any, Any, dict[str, Any]]]


def _session_command(
    subcommands: Any, name: str, work: SessionCommand, *, help: str
) -> argparse.ArgumentParser:
    """A subcommand that does `work` in one transaction and prints what it returns."""

    async def command(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
        return await actions.with_session(settings, lambda session: work(session, args))

    parser: argparse.ArgumentParser = subcommands.add_parser(name, help=help)
    parser.add_argument("--json", action="store_true", help=JSON_HELP)
    parser.set_defaults(handler=_run_async(command))
    return parser


def resolve_database(settings: Settings) -> Settings:
    """Settings with a database URL: the configured one, or an embedded PostgreSQL's."""
    if settings.database_url:
        return settings
    from pulsegate.db.embedded import start_embedded_postgres

    url = start_embedded_postgres(settings.data_dir)
    return settings.model_copy(update={"database_url": url})


def _migrate(_: argparse.Namespace, settings: Settings) -> int:
    settings = resolve_database(settings)
    assert settings.database_url is not None
    migrate.upgrade(settings.database_url)
    _out(f"database migrated to {migrate.head_revision()}")
    return 0


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from pulsegate.worker import run_worker

    settings = resolve_database(settings)
    assert settings.database_url is not None
    migrate.upgrade(settings.database_url)
    asyncio.run(run_worker(settings, parent_pid=args.parent_pid))
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    # pulsegate.app is imported only where it runs in this process: prometheus-client decides
    # at import whether it counts into the multiprocess files, and with a background process
    # the HTTP process must (serving.py sets the directory first).
    import uvicorn

    # uvicorn, once it has shut down gracefully on SIGTERM, raises the signal again to the
    # handler it found: with the default one the process died there, before the `finally`
    # blocks that stop the background process (and exited 143). This one exits cleanly.
    signal.signal(signal.SIGTERM, serving.exit_cleanly)
    settings = resolve_database(settings)
    assert settings.database_url is not None
    migrate.upgrade(settings.database_url)
    asyncio.run(_bootstrap(settings))
    common: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "access_log": False,
        "log_config": None,
        # uvicorn's httptools protocol, writing each response with one system call.
        "http": "pulsegate.http_protocol:HttpProtocol",
        "timeout_graceful_shutdown": 10,
    }
    if args.workers > 1 or settings.background_process:
        serving.serve_with_background_process(settings, args.workers, common)
    else:
        from pulsegate.app import create_app

        uvicorn.run(create_app(settings), **common)
    return 0


async def _bootstrap(settings: Settings) -> None:
    """First start: create workspace `default`, print its credentials and keep them in a file."""
    path = settings.data_dir / CREDENTIALS_FILE
    engine = create_engine(settings.async_database_url)
    try:
        async with unit_of_work(engine) as session:
            credentials = await workspaces.bootstrap_first_start(
                session,
                secret_box=actions.secret_box_of(settings),
                create_admin=settings.admin_token is None,
            )
    finally:
        await engine.dispose()
    if credentials is None:
        if path.exists():
            _out(f"credentials from the first start are in {path}", err=True)
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    write_private_file(path, json.dumps(credentials, indent=2) + "\n")
    lines = [f"  {name}: {value}" for name, value in credentials.items()]
    _out("\n".join(["first start: created workspace 'default'", *lines, f"  (kept in {path})"]))


def _run_async(
    command: Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, dict[str, Any]]],
) -> Callable[[argparse.Namespace, Settings], int]:
    def run(args: argparse.Namespace, settings: Settings) -> int:
        settings = resolve_database(settings)
        try:
            created = asyncio.run(command(args, settings))
        except PulsegateError as error:
            if args.json:
                _out(json.dumps(error.envelope()), err=True)
            else:
                _out(f"error: {error.message}", err=True)
            return exit_code_of(error)
        if args.json:
            _out(json.dumps(created))
        elif list(created) == ["items"]:
            _out("\n".join(json.dumps(item) for item in created["items"]))
        else:
            _out(
                "\n".join(
                    f"{name}: {json.dumps(value) if isinstance(value, list | dict) else value}"
                    for name, value in created.items()
                )
            )
        return 0

    return run


def _out(text: str, *, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")
    stream.flush()


if __name__ == "__main__":
    sys.exit(main())
