"""The closing audit: no Tator token in any log line of the whole test run.

Collected last (``zz``): by then every other test has run in this session. It searches the
text of every log record this process emitted (``tests/fixtures/log_audit.py``) and every
log file the run's other processes wrote under the session's temporary directory (workers,
work-horses, App servers, the API and demo subprocesses, embedded stores), for every token
the emulators hand out, in every form a token travels in.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from fiftyone_sync.emulators.tator import demo

MAX_LOG_BYTES = 64 * 1024 * 1024


def _tokens() -> list[str]:
    """The emulators' tokens: each standard user's API token and single-sign-on bearer."""
    users = demo.standard_users(sso=True)
    return [user["token"] for user in users] + [f"bearer-{user['username']}" for user in users]


def _log_files(root: Path) -> list[Path]:
    """The log files under ``root``: ``*.log`` files and files in ``logs`` folders."""
    return sorted(path for path in root.rglob("*")
                  if path.is_file() and not path.is_symlink()
                  and (path.suffix == ".log" or path.parent.name == "logs")
                  and path.stat().st_size <= MAX_LOG_BYTES)


def _leaks(texts: dict[str, str], tokens: list[str]) -> list[str]:
    """``where: which user's token`` for each text that holds a token."""
    return [f"{where}: token #{tokens.index(token)}"
            for where, text in texts.items() for token in tokens if token in text]


def test_the_audit_finds_a_token_planted_in_a_log_file() -> None:
    with tempfile.TemporaryDirectory() as outside_the_run:
        planted = Path(outside_the_run) / "logs" / "worker.log"
        planted.parent.mkdir()
        planted.write_text(f"INFO job started with Token {_tokens()[0]}\n")

        texts = {str(path): path.read_text(errors="replace")
                 for path in _log_files(Path(outside_the_run))}

    assert _leaks(texts, _tokens()) == [f"{planted}: token #0"]


def test_no_log_line_of_the_whole_run_holds_a_token(
        run_log_records: list[str], tmp_path_factory: pytest.TempPathFactory) -> None:
    files = _log_files(tmp_path_factory.getbasetemp())
    texts = {f"log record {n}": line for n, line in enumerate(run_log_records)}
    texts.update({str(path): path.read_text(errors="replace") for path in files})

    assert run_log_records, "no log record was captured: the recorder is not installed"
    assert not _leaks(texts, _tokens())
