"""Progress of long commands: sparse log lines off a terminal, bars on one."""

from __future__ import annotations

import io

from nib.operations.progress import progress


def test_log_lines_report_each_tenth_and_the_end():
    stream = io.StringIO()
    with progress(stream) as shown:
        users = shown.step("users", 100)
        for _ in range(100):
            users.advance()
        shown.step("objects", unit="bytes").advance(4096)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "users: started, 100 items"
    assert lines[1:11] == [f"users: {n}/100 items" for n in range(10, 101, 10)]
    assert lines[11].startswith("users: done, 100 items in ")
    assert lines[12] == "objects: started"
    assert lines[13].startswith("objects: done, 4096 bytes in ")
    assert len(lines) == 14


def test_a_step_without_total_logs_only_its_start_and_end_when_quick():
    stream = io.StringIO()
    with progress(stream) as shown:
        shown.step("scan").advance(7)
    assert stream.getvalue().splitlines()[0] == "scan: started"
    assert stream.getvalue().splitlines()[1].startswith("scan: done, 7 items in ")


def test_bars_on_a_terminal_show_the_count():
    stream = io.StringIO()
    with progress(stream, bars=True) as shown:
        step = shown.step("files", 3, unit="files")
        for _ in range(3):
            step.advance()
    output = stream.getvalue()
    assert "files" in output
    assert "3/3 files" in output
    assert "100%" in output
