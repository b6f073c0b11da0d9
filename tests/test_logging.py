"""No Tator token, password or credentialed MongoDB URI reaches a log line."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fiftyone_sync.logging_setup import configure_logging, redact_text, redact_uri
from tests.fixtures.net import free_port, port_open, wait_until

TOKEN = "9f8e7d6c5b4a39281706f5e4d3c2b1a0deadbeef"
MONGO_PASSWORD = "Sup3rS3cretMongo"
REDIS_PASSWORD = "R3disPassw0rd"


@pytest.fixture
def root_logging() -> Iterator[None]:
    """Restores the root logger after a test that configures logging."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_redact_uri_masks_passwords_only() -> None:
    uri = f"mongodb://admin:{MONGO_PASSWORD}@db1:27017,db2:27017/?authSource=admin"

    assert redact_uri(uri) == "mongodb://admin:***@db1:27017,db2:27017/?authSource=admin"
    assert redact_uri("mongodb://127.0.0.1:27017") == "mongodb://127.0.0.1:27017"
    assert MONGO_PASSWORD not in redact_uri(f"redis://:{MONGO_PASSWORD}@cache:6379/0")


@pytest.mark.parametrize("text", [
    f"Authorization: Token {TOKEN}",
    f"{{'Authorization': 'Bearer {TOKEN}'}}",
    f"headers={{'authorization': '{TOKEN}'}}",
    f"calling with Token {TOKEN}",
    f"GET /x?token={TOKEN}&page=2",
])
def test_redact_text_masks_tokens(text: str) -> None:
    assert TOKEN not in redact_text(text)


def test_configured_logging_redacts_records_and_tracebacks(
    root_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("DEBUG")
    logger = logging.getLogger("fiftyone_sync.test")

    logger.info("header %s", {"Authorization": f"Token {TOKEN}"})
    logger.warning("database at mongodb://sync:%s@db:27017/x", MONGO_PASSWORD)
    try:
        raise RuntimeError(f"failed with Token {TOKEN}")
    except RuntimeError:
        logger.exception("request failed")

    err = capsys.readouterr().err
    assert "request failed" in err and "mongodb://sync:***@db:27017/x" in err
    assert TOKEN not in err and MONGO_PASSWORD not in err


def test_configure_logging_twice_adds_no_duplicate_handler(root_logging: None) -> None:
    configure_logging("INFO")
    configure_logging("WARNING")

    ours = [h for h in logging.getLogger().handlers if getattr(h, "_fiftyone_sync", False)]
    assert len(ours) == 1
    assert logging.getLogger().level == logging.WARNING


def test_serve_with_credentialed_stores_and_tokens_logs_no_secret(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "FIFTYONE_SYNC_DATA_DIR": str(tmp_path),
           "FIFTYONE_DATABASE_URI": f"mongodb://sync:{MONGO_PASSWORD}@127.0.0.1:{free_port()}",
           "REDIS_URL": f"redis://:{REDIS_PASSWORD}@127.0.0.1:{free_port()}/0",
           "FIFTYONE_SYNC_LOG_LEVEL": "DEBUG"}
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "fiftyone-sync"), "serve", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Token {TOKEN}"}
    try:
        wait_until(lambda: port_open(port), timeout=60, what="serve")
        ready = httpx.get(f"{url}/ready", headers=headers, timeout=10)
        rendered = httpx.get(f"{url}/render?token={TOKEN}", headers=headers, timeout=10)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)

    output = log_path.read_text()
    assert ready.status_code == 503 and rendered.status_code == 200
    assert "readiness check mongodb failed" in output and "sync:***@" in output
    assert "did not answer at startup" in output
    for secret in (TOKEN, MONGO_PASSWORD, REDIS_PASSWORD):
        assert secret not in output
        assert secret not in ready.text
