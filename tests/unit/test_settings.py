"""Configuration from the environment (observability/settings.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from observability.envconfig import SettingsError
from observability.errors import ConfigError, ObservabilityError
from observability.settings import Settings, env_name, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("REMEDIATOR_"):
            monkeypatch.delenv(name)


def test_defaults_follow_the_design_table() -> None:
    s = Settings(_env_file=None)
    assert s.table_name == "pipeline-audit"
    assert s.topic_arn is None
    assert s.queue_url is None
    assert s.max_attempts == 3
    assert s.backoff_base_seconds == 60
    assert s.backoff_max_seconds == 3600
    assert s.heartbeat_seconds == 60
    # A run is dead after a few missed beats, not after an hour.
    assert s.stale_after_seconds == 180
    assert s.ttl_days == 90
    assert s.retry_shards == 8
    assert s.non_retryable_errors == ()
    assert s.metrics_enabled is True


def test_environment_with_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "REMEDIATOR_TABLE_NAME": "audit-x",
        "REMEDIATOR_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:signals",
        "REMEDIATOR_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
        "REMEDIATOR_MAX_ATTEMPTS": "5",
        "REMEDIATOR_BACKOFF_BASE_SECONDS": "1.5",
        "REMEDIATOR_BACKOFF_MAX_SECONDS": "30",
        "REMEDIATOR_STALE_AFTER_SECONDS": "120",
        "REMEDIATOR_TTL_DAYS": "7",
        "REMEDIATOR_RETRY_SHARDS": "16",
        "REMEDIATOR_METRICS_ENABLED": "false",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    s = load_settings(_env_file=None)
    assert s.table_name == "audit-x"
    assert s.topic_arn == env["REMEDIATOR_TOPIC_ARN"]
    assert s.queue_url == env["REMEDIATOR_QUEUE_URL"]
    assert (s.max_attempts, s.backoff_base_seconds, s.backoff_max_seconds) == (5, 1.5, 30)
    assert (s.stale_after_seconds, s.ttl_days, s.retry_shards) == (120, 7, 16)
    assert s.metrics_enabled is False


def test_unprefixed_names_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_ATTEMPTS", "9")
    monkeypatch.setenv("TABLE_NAME", "other")
    s = Settings(_env_file=None)
    assert (s.max_attempts, s.table_name) == (3, "pipeline-audit")


def test_keyword_overrides_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMEDIATOR_MAX_ATTEMPTS", "5")
    assert load_settings(max_attempts=2, _env_file=None).max_attempts == 2


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ValueError", ("ValueError",)),
        (
            "ValueError, mypkg.errors.BadInput ,,KeyError ",
            ("ValueError", "mypkg.errors.BadInput", "KeyError"),
        ),
        ("", ()),
        (" , ", ()),
    ],
)
def test_non_retryable_errors_is_a_comma_list(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: tuple[str, ...]
) -> None:
    monkeypatch.setenv("REMEDIATOR_NON_RETRYABLE_ERRORS", value)
    assert Settings(_env_file=None).non_retryable_errors == expected


def test_non_retryable_errors_from_a_keyword() -> None:
    s = Settings(non_retryable_errors=("A", "B"), _env_file=None)
    assert s.non_retryable_errors == ("A", "B")


@pytest.mark.parametrize(
    ("variable", "value", "limit"),
    [
        ("REMEDIATOR_MAX_ATTEMPTS", "0", "greater than or equal to 1"),
        ("REMEDIATOR_MAX_ATTEMPTS", "101", "less than or equal to 100"),
        ("REMEDIATOR_MAX_ATTEMPTS", "three", "integer"),
        ("REMEDIATOR_BACKOFF_BASE_SECONDS", "-1", "greater than or equal to 0"),
        ("REMEDIATOR_BACKOFF_BASE_SECONDS", "86401", "less than or equal to 86400"),
        ("REMEDIATOR_BACKOFF_MAX_SECONDS", "604801", "less than or equal to 604800"),
        ("REMEDIATOR_STALE_AFTER_SECONDS", "0", "greater than or equal to 1"),
        ("REMEDIATOR_TTL_DAYS", "0", "greater than or equal to 1"),
        ("REMEDIATOR_TTL_DAYS", "3651", "less than or equal to 3650"),
        ("REMEDIATOR_RETRY_SHARDS", "65", "less than or equal to 64"),
        ("REMEDIATOR_TABLE_NAME", "ab", "3 to 255 characters"),
        ("REMEDIATOR_TABLE_NAME", "bad name!", "3 to 255 characters"),
        ("REMEDIATOR_TOPIC_ARN", "signals", "ARN"),
        ("REMEDIATOR_METRICS_NAMESPACE", "", "at least 1 character"),
        ("REMEDIATOR_METRICS_ENABLED", "maybe", "boolean"),
    ],
)
def test_bad_values_raise_config_error_naming_variable_and_limit(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, limit: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None)
    message = str(info.value)
    assert f"{variable}={value!r}" in message
    assert limit in message
    field = variable.removeprefix("REMEDIATOR_").lower()
    assert field not in message.replace(variable, "")  # the variable, never the field path


def test_every_problem_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMEDIATOR_MAX_ATTEMPTS", "0")
    monkeypatch.setenv("REMEDIATOR_TTL_DAYS", "0")
    with pytest.raises(ConfigError, match=r"REMEDIATOR_MAX_ATTEMPTS.*REMEDIATOR_TTL_DAYS"):
        load_settings(_env_file=None)


@pytest.mark.parametrize(
    ("base", "cap", "ok"), [("60", "30", False), ("60", "60", True), ("0", "0", True)]
)
def test_backoff_max_below_base_is_rejected(
    monkeypatch: pytest.MonkeyPatch, base: str, cap: str, ok: bool
) -> None:
    monkeypatch.setenv("REMEDIATOR_BACKOFF_BASE_SECONDS", base)
    monkeypatch.setenv("REMEDIATOR_BACKOFF_MAX_SECONDS", cap)
    if ok:
        assert load_settings(_env_file=None).backoff_max_seconds == float(cap)
        return
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None)
    assert str(info.value) == (
        "invalid configuration: REMEDIATOR_BACKOFF_MAX_SECONDS (30) must be at least "
        "REMEDIATOR_BACKOFF_BASE_SECONDS (60)"
    )


def test_config_error_is_the_library_root_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMEDIATOR_MAX_ATTEMPTS", "0")
    with pytest.raises(ObservabilityError):
        load_settings(_env_file=None)


def test_settings_are_frozen() -> None:
    s = Settings(_env_file=None)
    with pytest.raises(AttributeError, match="frozen"):
        s.max_attempts = 9  # type: ignore[misc]


@pytest.mark.parametrize(
    ("region", "default_region", "expected"),
    [
        ("eu-west-1", None, "eu-west-1"),
        (None, "ap-south-1", "ap-south-1"),
        ("eu-west-1", "ap-south-1", "eu-west-1"),
        (None, None, None),
    ],
)
def test_aws_region_variables_are_honoured(
    monkeypatch: pytest.MonkeyPatch,
    region: str | None,
    default_region: str | None,
    expected: str | None,
) -> None:
    for name, value in (("AWS_REGION", region), ("AWS_DEFAULT_REGION", default_region)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert Settings(_env_file=None).region == expected


def test_region_keyword_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    assert Settings(region="eu-west-1", _env_file=None).region == "eu-west-1"


def test_dotenv_file_is_read_and_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("REMEDIATOR_TTL_DAYS=7\nREMEDIATOR_MAX_ATTEMPTS=4\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REMEDIATOR_MAX_ATTEMPTS", "6")
    s = Settings()
    assert (s.ttl_days, s.max_attempts) == (7, 6)
    assert Settings(_env_file=None).ttl_days == 90


def test_bad_dotenv_value_names_the_variable(tmp_path: Path) -> None:
    env_file = tmp_path / "custom.env"
    env_file.write_text("REMEDIATOR_RETRY_SHARDS=0\n")
    with pytest.raises(ConfigError, match=r"REMEDIATOR_RETRY_SHARDS=.*greater than or equal to 1"):
        load_settings(_env_file=env_file)


@pytest.mark.parametrize(
    ("field", "variable"),
    [
        ("max_attempts", "REMEDIATOR_MAX_ATTEMPTS"),
        ("table_name", "REMEDIATOR_TABLE_NAME"),
        ("region", "AWS_REGION"),
    ],
)
def test_env_name(field: str, variable: str) -> None:
    assert env_name(field) == variable


def test_health_silence_must_outlast_one_unit_of_work() -> None:
    from remediator.settings import RemediatorSettings

    with pytest.raises(SettingsError) as refused:
        RemediatorSettings(health_max_silence_seconds=50, _env_file=None)
    message = str(refused.value)
    assert "REMEDIATOR_HEALTH_MAX_SILENCE_SECONDS (50)" in message
    assert "at least 60" in message  # twice the 30 s trigger timeout
    slow = RemediatorSettings(
        trigger_timeout_seconds=60, health_max_silence_seconds=120, _env_file=None
    )
    assert slow.health_max_silence_seconds == 120


def test_a_retention_shorter_than_the_longest_retry_and_the_stale_window_is_refused() -> None:
    from observability.errors import ConfigError
    from observability.settings import load_settings

    with pytest.raises(ConfigError) as raised:
        load_settings(
            ttl_days=1,
            backoff_max_seconds=7 * 86_400,
            stale_after_seconds=2 * 86_400,
            _env_file=None,
        )
    message = str(raised.value)
    for name in (
        "REMEDIATOR_TTL_DAYS",
        "REMEDIATOR_BACKOFF_MAX_SECONDS",
        "REMEDIATOR_STALE_AFTER_SECONDS",
    ):
        assert name in message
    assert "at least 10 days" in message
    assert "\n" not in message
    # Just enough is accepted.
    assert load_settings(
        ttl_days=10, backoff_max_seconds=7 * 86_400, stale_after_seconds=2 * 86_400,
        _env_file=None,
    ).ttl_days == 10  # fmt: skip


def test_an_item_due_beyond_the_retention_lives_until_its_retry_and_its_stale_deadline() -> None:
    from datetime import UTC, datetime, timedelta

    from observability.retry.backoff import RetryAt
    from observability.transitions import TableConfig

    now = datetime(2024, 5, 1, tzinfo=UTC)
    cfg = TableConfig(stale_after_seconds=3600, ttl_days=1)
    due = now + timedelta(days=5)
    expires = cfg.outlasting(now, RetryAt(due, 2))
    assert expires == int((due + timedelta(hours=1, days=1)).timestamp())
    usual = TableConfig(stale_after_seconds=3600, ttl_days=90)
    assert usual.outlasting(now, RetryAt(now + timedelta(minutes=1), 2)) == usual.expires_at(now)


def test_the_default_takeover_resends_inside_the_fifo_window_and_doctor_says_when_not() -> None:
    from remediator.settings import FIFO_DEDUPLICATION_SECONDS, RemediatorSettings
    from remediator.stack.doctor import _takeover

    defaults = RemediatorSettings(_env_file=None)
    assert defaults.takeover_resend_seconds == 240 <= FIFO_DEDUPLICATION_SECONDS
    assert _takeover(defaults).status == "ok"
    slow = RemediatorSettings(lease_seconds=300, _env_file=None)
    finding = _takeover(slow)
    assert finding.status == "warn"
    assert "360 s" in finding.detail
    assert "REMEDIATOR_LEASE_SECONDS" in finding.fix


@pytest.mark.parametrize(
    ("env", "beat", "window"),
    [
        ({"REMEDIATOR_HEARTBEAT_SECONDS": "2"}, 2, 6),
        ({"REMEDIATOR_STALE_AFTER_SECONDS": "30"}, 10, 30),
        ({"REMEDIATOR_STALE_AFTER_SECONDS": "7200"}, 60, 7200),
        # The job opts out of the automatic heartbeat: an hour's window, as before.
        ({"REMEDIATOR_HEARTBEAT_SECONDS": "0"}, 0, 3600),
        ({"REMEDIATOR_HEARTBEAT_SECONDS": "5", "REMEDIATOR_STALE_AFTER_SECONDS": "12"}, 5, 12),
    ],
)
def test_heartbeat_and_stale_window_follow_each_other(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], beat: float, window: float
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    s = Settings(_env_file=None)
    assert (s.heartbeat_seconds, s.stale_after_seconds) == (beat, window)


def test_a_stale_window_shorter_than_two_beats_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"REMEDIATOR_STALE_AFTER_SECONDS .* twice"):
        load_settings(heartbeat_seconds=10, stale_after_seconds=15, _env_file=None)
