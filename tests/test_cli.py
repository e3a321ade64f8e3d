"""`cdp-bot` as an operator runs it: clear errors without tokens; serving with them; SIGTERM stops it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bot.server import Runtime, StartupError, check_slack, serve_socket_mode
from bot.settings import Settings
from bot.testing.slack_emulator import SignedSender, SlackEmulator
from tests.conftest import ALICE, SIGNING_SECRET

CDP_BOT = shutil.which("cdp-bot", path=str(Path(sys.executable).parent)) or "cdp-bot"
SLACK_VARIABLES = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_API_URL",
    "DATABASE_URL",
    "SLACK_CLIENT_ID",
    "SLACK_CLIENT_SECRET",
)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SLACK_VARIABLES}
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_run_without_tokens_names_each_missing_variable(tmp_path: Path) -> None:
    result = subprocess.run(
        [CDP_BOT, "run"], cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN is not set" in result.stderr
    assert "OAuth & Permissions" in result.stderr
    assert "SLACK_SIGNING_SECRET is not set" in result.stderr
    assert "Signing Secret" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "cdp-bot.db").exists()  # nothing was created


def test_socket_mode_needs_no_signing_secret(tmp_path: Path) -> None:
    result = subprocess.run(
        [CDP_BOT, "run"],
        cwd=tmp_path,
        env=clean_env(SLACK_APP_TOKEN="xapp-1-abc"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN is not set" in result.stderr
    assert "SLACK_SIGNING_SECRET" not in result.stderr


def test_malformed_values_are_named(tmp_path: Path) -> None:
    env = clean_env(
        SLACK_BOT_TOKEN="not-a-token",
        PORT="eighty",
        DEFAULT_LANGUAGE="de",
        DATABASE_URL="mysql://x/y",
        COMMIT_DURABILITY="sometimes",
        SLACK_REQUEST_TIMEOUT="0",
    )
    result = subprocess.run(
        [CDP_BOT, "run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    for variable in (
        "SLACK_BOT_TOKEN",
        "PORT",
        "DEFAULT_LANGUAGE",
        "DATABASE_URL",
        "COMMIT_DURABILITY",
        "SLACK_REQUEST_TIMEOUT",
    ):
        assert f"  - {variable}:" in result.stderr
    assert "Traceback" not in result.stderr


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=xoxb-from-dotenv\n", encoding="utf-8")
    result = subprocess.run(
        [CDP_BOT, "run"], cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=60
    )
    assert "SLACK_BOT_TOKEN" not in result.stderr
    assert "SLACK_SIGNING_SECRET is not set" in result.stderr


def one_clear_line(result: subprocess.CompletedProcess[str]) -> str:
    """The problem `cdp-bot` printed, after checking it printed exactly one, and nothing else went wrong."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert '"level": "error"' not in result.stderr  # no library's error line before ours
    problems = [line.removeprefix("  - ") for line in result.stderr.splitlines() if line.startswith("  - ")]
    assert len(problems) == 1, result.stderr
    return problems[0]


def test_token_refused_by_slack_is_a_clear_error(tmp_path: Path) -> None:
    with SlackEmulator() as emulator:
        api_url = emulator.api_url
        env = clean_env(
            SLACK_BOT_TOKEN="xoxb-wrong",
            SLACK_SIGNING_SECRET="s",
            SLACK_API_URL=emulator.api_url,
            PORT=str(free_port()),
        )
        result = subprocess.run(
            [CDP_BOT, "run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
    problem = one_clear_line(result)
    assert problem.startswith(
        f"SLACK_BOT_TOKEN was not accepted by the Slack API at {api_url} (invalid_auth)"
    )
    assert "OAuth & Permissions" in problem  # where to find the right one
    assert not (tmp_path / "cdp-bot.db").exists()  # the token is checked before the database is created


def test_socket_mode_with_a_refused_app_token_is_one_clear_line(tmp_path: Path) -> None:
    with SlackEmulator() as emulator:
        api_url = emulator.api_url
        env = clean_env(
            SLACK_BOT_TOKEN=emulator.token, SLACK_APP_TOKEN="xapp-1-revoked", SLACK_API_URL=emulator.api_url
        )
        result = subprocess.run(
            [CDP_BOT, "run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
        opened = [call for call in emulator.calls if call.method == "apps.connections.open"]
    problem = one_clear_line(result)
    assert problem.startswith(
        f"SLACK_APP_TOKEN was not accepted by the Slack API at {api_url} (invalid_auth)"
    )
    assert "App-Level Tokens" in problem and "connections:write" in problem
    assert [call.token for call in opened] == [
        "xapp-1-revoked"
    ]  # asked with the app token, not the bot token
    assert not (tmp_path / "cdp-bot.db").exists()


def test_socket_mode_app_token_refused_after_the_start_check_is_a_startup_error(
    emulator: SlackEmulator, tmp_path: Path
) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        SLACK_BOT_TOKEN=emulator.token,
        SLACK_APP_TOKEN=emulator.app_token,
        SLACK_API_URL=emulator.api_url,
        DATABASE_URL=f"sqlite:///{tmp_path / 'cdp.db'}",
    )
    runtime = Runtime.start(settings, run_scheduler=False)
    sigint_before = signal.getsignal(signal.SIGINT)
    try:
        emulator.app_token = "xapp-1-rotated"  # the token was revoked between the check and the connection
        with pytest.raises(StartupError, match=r"^SLACK_APP_TOKEN was not accepted .* \(invalid_auth\)"):
            serve_socket_mode(runtime)
        assert signal.getsignal(signal.SIGINT) is sigint_before  # Ctrl-C still does what it did
    finally:
        runtime.close()


@pytest.mark.parametrize(
    ("api_url", "reason"),
    [
        ("http://slack.invalid/api/", "the host name could not be resolved"),  # no DNS, or no network at all
        (f"http://127.0.0.1:{free_port()}/api/", "connection refused"),
    ],
    ids=["dns", "refused"],
)
def test_slack_unreachable_is_not_blamed_on_the_token(tmp_path: Path, api_url: str, reason: str) -> None:
    env = clean_env(SLACK_BOT_TOKEN="xoxb-fine", SLACK_SIGNING_SECRET="s", SLACK_API_URL=api_url)
    result = subprocess.run(
        [CDP_BOT, "run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    problem = one_clear_line(result)
    assert problem.startswith(f"Slack could not be reached at SLACK_API_URL={api_url} ({reason}")
    assert "not accepted" not in result.stderr
    assert not (tmp_path / "cdp-bot.db").exists()


def test_slack_that_never_answers_times_out_with_a_clear_error() -> None:
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        api_url = f"http://127.0.0.1:{silent.getsockname()[1]}/api/"
        settings = Settings(_env_file=None, SLACK_BOT_TOKEN="xoxb-fine", SLACK_API_URL=api_url)  # type: ignore[call-arg]
        started = time.monotonic()
        with pytest.raises(StartupError) as raised:
            check_slack(settings, timeout=1)
    assert time.monotonic() - started < 5
    assert str(raised.value).startswith(
        f"Slack could not be reached at SLACK_API_URL={api_url} (no answer within 1 s)"
    )


@pytest.mark.parametrize("command", ["run", "migrate", "recompute"])
def test_unreachable_database_is_one_clear_line(tmp_path: Path, command: str) -> None:
    database_url = f"postgresql+psycopg://cdp:secret-password@127.0.0.1:{free_port()}/nowhere"
    with SlackEmulator() as emulator:
        env = clean_env(
            SLACK_BOT_TOKEN=emulator.token,
            SLACK_SIGNING_SECRET="s",
            SLACK_API_URL=emulator.api_url,
            DATABASE_URL=database_url,
        )
        result = subprocess.run(
            [CDP_BOT, command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
    problem = one_clear_line(result)
    assert problem.startswith(
        f"DATABASE_URL: cannot use the database at postgresql+psycopg://cdp:***@127.0.0.1:{database_url.split(':')[3]}"
    )
    assert "Connection refused" in problem
    assert "secret-password" not in result.stderr + result.stdout


def test_migrate(tmp_path: Path) -> None:
    result = subprocess.run(
        [CDP_BOT, "migrate"], cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "database at revision" in result.stdout
    assert (tmp_path / "cdp-bot.db").exists()


def test_recompute(tmp_path: Path) -> None:
    result = subprocess.run(
        [CDP_BOT, "recompute"], cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "circles recomputed: 0 change(s)" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("backend", ["sqlite"])
def test_run_serves_http_against_the_emulator_and_stops_on_sigterm(tmp_path: Path, backend: str) -> None:
    port = free_port()
    with SlackEmulator() as emulator:
        emulator.add_user(ALICE, "alice", locale="fr-FR")
        env = clean_env(
            SLACK_BOT_TOKEN=emulator.token,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=emulator.api_url,
            PORT=str(port),
            HOST="127.0.0.1",
        )
        process = subprocess.Popen(
            [CDP_BOT, "run"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                        assert response.status == 200
                        break
                except OSError:
                    assert process.poll() is None, process.communicate()[1]
                    assert time.monotonic() < deadline, "cdp-bot run did not serve /healthz"
                    time.sleep(0.2)
            answer = SignedSender(url, SIGNING_SECRET, emulator).command("help", ALICE).json()
            assert "communautés de pratique" in answer["text"]
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert '"level": "error"' not in stderr
    # The healthy start README.md shows, in order; then the structured request line, then the stop.
    healthy = ['"msg": "Slack accepted the tokens"', '"msg": "database ready"', '"msg": "serving HTTP"']
    positions = [stderr.find(line) for line in healthy]
    assert -1 not in positions and positions == sorted(positions), stderr
    assert '"team": "T0CDP", "bot_user": "UBOT", "mode": "http"' in stderr
    assert '"kind": "slash_command"' in stderr  # the structured request line
    assert '"msg": "stopped", "signal": "SIGTERM"' in stderr
    assert emulator.token not in stderr


def test_env_example_documents_every_setting_and_loads(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    lines = (root / ".env.example").read_text(encoding="utf-8").splitlines()
    variables = {field.alias for field in Settings.model_fields.values()}
    assigned = [i for i, line in enumerate(lines) if line and not line.startswith("#") and "=" in line]
    assert {lines[i].split("=", 1)[0] for i in assigned} == variables
    assert all(lines[i - 1].startswith("#") for i in assigned)  # each one says what it is
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert all(f"| `{variable}` |" in readme for variable in variables)  # and the README's table too
    # Copied to .env as it is, it is valid: `cdp-bot` gets as far as asking Slack about the placeholder.
    (tmp_path / ".env").write_text("\n".join(lines), encoding="utf-8")
    result = subprocess.run(
        [CDP_BOT, "run"],
        cwd=tmp_path,
        env=clean_env(SLACK_API_URL=f"http://127.0.0.1:{free_port()}/api/"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert one_clear_line(result).startswith("Slack could not be reached")
