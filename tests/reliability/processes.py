"""A writer process whose saves are counted from its output (one line a save)."""

from __future__ import annotations

import subprocess
import sys
import threading


class SavingProcess:
    """``python ARGV...`` with a thread counting the lines it prints, one per save."""

    def __init__(self, *argv: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.saves = 0
        self.reader = threading.Thread(target=self._count, daemon=True)
        self.reader.start()

    def _count(self) -> None:
        assert self.proc.stdout is not None
        for _ in self.proc.stdout:
            self.saves += 1

    def finish(self, *, expect_success: bool = True) -> str:
        """Wait for the process (killed if it outlives 60 s); return its stderr."""
        try:
            _, err = self.proc.communicate(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        self.reader.join(timeout=60)
        if expect_success:
            assert self.proc.returncode == 0, err
        return err
