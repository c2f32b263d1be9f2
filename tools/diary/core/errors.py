"""The one error type for bad input: it names the file, line and column, and says what to do."""

from __future__ import annotations

from pathlib import Path


class DiaryError(Exception):
    """A problem with the author's input; the CLI prints it on one line and exits with code 2."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        file: str | Path | None = None,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.column = column
        self.hint = hint

    def location(self) -> str:
        parts = [self.file or "<input>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def __str__(self) -> str:
        text = f"{self.location()}: error: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        from diary.core.escape import for_terminal  # printed on one line: nothing a terminal acts on

        return for_terminal(text.replace("\n", " "))

    def finding(self) -> str:
        """One line of a list of findings (`diary check` collects them all, then fails):
        `file:line: message (fix: hint)`."""
        where = f"{self.file or '.'}:{self.line}" if self.line else (self.file or ".")
        from diary.core.escape import for_terminal

        return for_terminal(f"{where}: {self.message} (fix: {self.hint or 'see the message'})".replace("\n", " "))


class LockedError(DiaryError):
    """Another diary process holds the build lock."""


class ToolError(DiaryError):
    """The machine failed, not the input: the sandbox did not start, the disk is full or read-only.

    Exit code 3, so that a broken builder is never read as a broken snapshot (1) or bad input (2).
    """

    exit_code = 3
