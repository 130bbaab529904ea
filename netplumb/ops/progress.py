"""Progress of long work (probe pods starting, waits) on a terminal; silent elsewhere.

Shown on stderr only when it is a terminal, the output is not JSON, and no ``CI`` variable is
set (GitHub Actions, GitLab CI and most others set ``CI``): logs and piped output stay clean,
and stdout always carries only the result.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, enabled: bool, stream: TextIO | None = None) -> None:
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.t0 = time.monotonic()
        self._open = False

    @classmethod
    def auto(cls, *, quiet: bool, stream: TextIO | None = None) -> Progress:
        """On when ``stream`` (default stderr) is a TTY, not ``quiet`` and not in CI."""
        out = stream or sys.stderr
        tty = bool(getattr(out, "isatty", lambda: False)())
        return cls(tty and not quiet and not os.environ.get("CI"), out)

    def _stamp(self) -> str:
        return f"[{time.monotonic() - self.t0:5.1f}s]"

    def step(self, message: str) -> None:
        """A line that stays."""
        if not self.enabled:
            return
        self._close()
        self.stream.write(f"{self._stamp()} {message}\n")
        self.stream.flush()

    def update(self, message: str) -> None:
        """A line that the next update or step replaces (a wait's state)."""
        if not self.enabled:
            return
        self.stream.write(f"\r\x1b[K{self._stamp()} {message}")
        self.stream.flush()
        self._open = True

    def _close(self) -> None:
        if self._open:
            self.stream.write("\r\x1b[K")
            self._open = False

    def done(self) -> None:
        if self.enabled:
            self._close()
            self.stream.flush()


QUIET = Progress(False)
