"""The README's first command, as a new user runs it, and the create commands."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.servers import cli_json, run_cli, start_server
from tests.support.waiting import eventually_sync


def test_serve_on_a_bare_machine_uses_embedded_postgres_and_prints_credentials(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "fresh"
    server = start_server(None, data_dir)  # no PULSEGATE_DATABASE_URL: embedded PostgreSQL
    try:
        credentials_file = data_dir / "credentials.json"
        assert stat.S_IMODE(credentials_file.stat().st_mode) == 0o600
        credentials = json.loads(credentials_file.read_text())
        assert credentials["workspace"] == "default"
        assert set(credentials) >= {"write_key", "api_key", "admin_token"}
        assert credentials["write_key"] in server.log_path.read_text()  # printed once
        assert (data_dir / "postgres" / "PG_VERSION").exists()
        response = httpx.post(
            f"{server.url}/v1/track",
            auth=(credentials["write_key"], ""),
            json={"userId": "u", "event": "First Event"},
        )
        assert response.status_code == 200
        assert response.json() == {"success": True}
    finally:
        server.stop()

    # A second start finds the workspace and creates nothing new.
    again = start_server(None, data_dir)
    try:
        assert json.loads((data_dir / "credentials.json").read_text()) == credentials
        log = again.log_path.read_text()  # both starts append to it
        assert log.count("created workspace 'default'") == 1
        assert "credentials from the first start are in" in log
    finally:
        again.stop()
    # SIGTERM: drained, exit 0, and the embedded PostgreSQL it started is stopped.
    assert again.process.returncode == 0
    assert embedded_postgres_pid(data_dir) is None


def embedded_postgres_pid(data_dir: Path) -> int | None:
    """The pid of the embedded PostgreSQL running on `data_dir`, if one runs."""
    postmaster = data_dir / "postgres" / "postmaster.pid"
    if not postmaster.exists():
        return None
    pid = int(postmaster.read_text().splitlines()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    return pid


def test_a_killed_server_leaves_no_embedded_postgres_behind_the_next_command(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "killed"
    server = start_server(None, data_dir)
    server.process.kill()  # SIGKILL: no atexit, its pid stays in the server's list
    server.process.wait(10)
    assert embedded_postgres_pid(data_dir) is not None  # orphaned, still running
    assert server.process.pid in json.loads(
        (data_dir / "postgres" / ".handle_pids.json").read_text()
    )

    env = {**server.env, "PULSEGATE_DATA_DIR": str(data_dir)}
    result = run_cli(env, "workspace", "list", "--json")
    assert result.returncode == 0, result.stderr
    assert [w["name"] for w in json.loads(result.stdout)["items"]] == ["default"]
    # The command dropped the dead pid, was the last one holding the server, and stopped it.
    eventually_sync(
        lambda: embedded_postgres_pid(data_dir),
        lambda pid: pid is None,
        timeout=15,
        what="the embedded PostgreSQL stopped",
    )
    assert json.loads((data_dir / "postgres" / ".handle_pids.json").read_text()) == []


def test_admin_token_from_settings_is_not_generated(tmp_path: Path, scratch_database: str) -> None:
    server = start_server(
        scratch_database, tmp_path / "data", PULSEGATE_ADMIN_TOKEN="operator-chosen-token"
    )
    try:
        credentials = json.loads((tmp_path / "data" / "credentials.json").read_text())
        assert "admin_token" not in credentials
        assert "write_key" in credentials
    finally:
        server.stop()


def test_create_commands_print_one_time_secrets_as_json(database_url: str, tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "PULSEGATE_DATABASE_URL": database_url,
        "PULSEGATE_DATA_DIR": str(tmp_path),
        "PULSEGATE_SECRET_KEY": "cli-secret-of-at-least-32-characters",
    }
    workspace = cli_json(env, "workspace", "create", "cli-ws")
    assert workspace["name"] == "cli-ws"
    source = cli_json(
        env, "source", "create", "cli-ws", "web", "--allowed-origin", "https://a.example"
    )
    assert len(source["write_key"]) == 32
    assert source["allowed_origins"] == ["https://a.example"]
    key = cli_json(env, "apikey", "create", workspace["id"])
    assert key["api_key"].startswith("pgk_")

    duplicate = run_cli(env, "workspace", "create", "cli-ws")
    assert duplicate.returncode == 4
    assert "already exists" in duplicate.stderr
    missing = run_cli(env, "source", "create", "no-such-ws", "web")
    assert missing.returncode == 3
    assert "no workspace 'no-such-ws'" in missing.stderr


def test_worker_projects_what_a_server_without_projector_accepted(
    tmp_path: Path, scratch_database: str
) -> None:
    """`pulsegate worker` (docs/operations.md, "Processes") runs the background work, no HTTP,
    and stops on SIGTERM."""
    server = start_server(scratch_database, tmp_path / "data", PULSEGATE_PROJECTOR_ENABLED="false")
    worker: subprocess.Popen[bytes] | None = None
    try:
        credentials = json.loads((tmp_path / "data" / "credentials.json").read_text())
        api = {"Authorization": f"Bearer {credentials['api_key']}"}
        sent = httpx.post(
            f"{server.url}/v1/track",
            auth=(credentials["write_key"], ""),
            json={"userId": "u-w", "event": "Report Built", "properties": {"module": "Reports"}},
        )
        assert sent.json() == {"success": True}
        # Nothing may happen, so there is no condition to wait on: five of the poll
        # intervals the server would have, had it a projector.
        time.sleep(1.0)
        events = httpx.get(f"{server.url}/api/v1/events", headers=api).json()
        assert events["items"] == []

        log_path = tmp_path / "worker.log"
        worker = subprocess.Popen(
            [sys.executable, "-m", "pulsegate", "worker"],
            # Every process reads the same settings: this one is to project.
            env={**server.env, "PULSEGATE_PROJECTOR_ENABLED": "true"},
            stdout=log_path.open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while not (items := httpx.get(f"{server.url}/api/v1/events", headers=api).json()["items"]):
            assert worker.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        assert [(e["name"], e["module"], e["user_id"]) for e in items] == [
            ("Report Built", "Reports", "u-w")
        ]

        worker.send_signal(signal.SIGTERM)
        assert worker.wait(15) == 0
        assert "worker.stopped" in log_path.read_text()
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
        server.stop()


@pytest.mark.parametrize(
    ("setting", "value", "says"),
    [
        ("PULSEGATE_TIMEZONE", "Mars/Olympus", "'Mars/Olympus' is not an IANA time zone"),
        ("PULSEGATE_LOG_LEVEL", "LOUD", "must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("PULSEGATE_SECRET_KEY", "short", "must be at least 32 characters"),
    ],
)
def test_a_bad_setting_is_one_clear_line_before_anything_runs(
    tmp_path: Path, setting: str, value: str, says: str
) -> None:
    """Named as it is set, without a traceback, with exit code 2, before any database is
    started or migrated (the data directory stays empty)."""
    env = {
        "PATH": os.environ["PATH"],
        "PULSEGATE_DATA_DIR": str(tmp_path / "data"),
        setting: value,
    }
    result = run_cli(env, "migrate")
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {setting}: {says}")
    assert not (tmp_path / "data").exists()


def test_version(tmp_path: Path) -> None:
    result = run_cli({"PATH": os.environ["PATH"]}, "--version")
    assert (result.returncode, result.stdout.strip()) == (0, "pulsegate 0.1.0")


def test_every_command_and_option_has_help() -> None:
    from pulsegate.cli import build_parser

    def walk(parser: argparse.ArgumentParser, path: str) -> list[str]:
        missing = []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helped = {choice.dest for choice in action._choices_actions if choice.help}
                for name, sub in action.choices.items():
                    if name not in helped:
                        missing.append(f"{path} {name}")
                    missing += walk(sub, f"{path} {name}")
            elif not action.help and action.dest != "help":
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
        return missing

    assert walk(build_parser(), "pulsegate") == []


def test_errors_have_distinct_exit_codes_and_json_under_json(
    database_url: str, tmp_path: Path
) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "PULSEGATE_DATABASE_URL": database_url,
        "PULSEGATE_DATA_DIR": str(tmp_path),
        "PULSEGATE_SECRET_KEY": "cli-secret-of-at-least-32-characters",
    }
    name = f"codes-{os.getpid()}-{time.monotonic_ns()}"
    assert run_cli(env, "workspace", "create", name).returncode == 0
    again = run_cli(env, "workspace", "create", name, "--json")
    assert again.returncode == 4
    assert json.loads(again.stderr)["code"] == "already_exists"
    missing = run_cli(env, "source", "list", "no-such-workspace", "--json")
    assert missing.returncode == 3
    assert json.loads(missing.stderr)["code"] == "not_found"
    assert cli_json(env, "destination", "list", name) == {"items": []}
    assert cli_json(env, "connector", "list", name) == {"items": []}
    jobs = {job["name"] for job in cli_json(env, "jobs", "list")["items"]}
    assert {"outbox_delivery", "session_sweep", "nightly", "retention", "erasures"} <= jobs
    plain = run_cli(env, "source", "list", "no-such-workspace")
    assert (plain.returncode, plain.stderr.strip()) == (
        3,
        "error: no workspace 'no-such-workspace'",
    )


def test_env_example_names_every_setting_and_no_other() -> None:
    from pulsegate.settings import Settings

    settings = {f"PULSEGATE_{name.upper()}" for name in Settings.model_fields}
    example = (Path(__file__).parents[1] / ".env.example").read_text()
    assert set(re.findall(r"PULSEGATE_[A-Z0-9_]+(?==)", example)) == settings
