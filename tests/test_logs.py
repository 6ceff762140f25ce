"""Log redaction: what a log line shows of secrets, with and without registered secret values."""

from __future__ import annotations

import pytest

from comfy_reality import logs


@pytest.mark.parametrize("registered", [False, True])
def test_string_values_are_redacted_as_redact_text_does(
    monkeypatch: pytest.MonkeyPatch, registered: bool
) -> None:
    # redact_processor skips redact_text for strings it cannot change: the result must not differ.
    monkeypatch.setattr(logs, "_secret_values", {"hunter2-secret"} if registered else set())
    plain = "nothing to hide here"
    line = {
        "event": "prompt_queued",
        "note": "the password is hunter2-secret",
        "url": "http://bob:pw@host/x",
        "query": "http://h/?token=abc&a=1",
        "plain": plain,
        "number": 3,
        "nested": {"text": "hunter2-secret", "password": "x"},
    }
    out = logs.redact_processor(None, "info", dict(line))
    assert out == {key: logs._redact(value) for key, value in line.items()}
    assert out["url"] == "http://host/x"
    assert out["query"] == "http://h/?token=***&a=1"
    assert out["nested"]["password"] == "***"
    assert out["plain"] is plain
    shown = "the password is ***" if registered else "the password is hunter2-secret"
    assert out["note"] == shown
