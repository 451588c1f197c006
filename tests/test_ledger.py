"""The failure ledger: JSON lines, a torn line from a dying writer is detected and never
corrupts the entries written after it."""

from __future__ import annotations

from shadow_audit.ledger import FailureLedger


def test_entries_round_trip(tmp_path):
    ledger = FailureLedger(tmp_path / "l.jsonl")
    ledger.record(key="a", document_hash="h1", error=ValueError("first\nline two"))
    ledger.record(key="b", document_hash="h2", error=OSError(28, "No space left on device"))
    got = ledger.read()
    assert got.torn == 0
    assert [(e.key, e.error_class, e.message) for e in got.entries] == [
        ("a", "ValueError", "first line two"),
        ("b", "OSError", "[Errno 28] No space left on device"),
    ]
    assert (tmp_path / "l.jsonl").stat().st_mode & 0o777 == 0o600


def test_torn_last_line_is_detected_and_the_next_entry_stays_whole(tmp_path):
    path = tmp_path / "l.jsonl"
    ledger = FailureLedger(path)
    ledger.record(key="a", document_hash="h", error=RuntimeError("x"))
    with open(path, "ab") as fh:
        fh.write(b'{"time": "2026-01-01T00:00:00Z", "key": "b", "docum')  # the writer died here
    assert ledger.read().torn == 1
    assert [e.key for e in ledger.read().entries] == ["a"]
    ledger.record(key="c", document_hash="h", error=RuntimeError("y"))
    got = ledger.read()
    assert [e.key for e in got.entries] == ["a", "c"]
    assert got.torn == 1


def test_missing_ledger_is_empty(tmp_path):
    got = FailureLedger(tmp_path / "none.jsonl").read()
    assert got.entries == () and got.torn == 0
