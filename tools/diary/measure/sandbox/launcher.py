"""The program's own figures: a small launcher that starts the program and reports its rusage.

A process forked from `diary` inherits its high-water mark of resident memory through exec (Linux
keeps `ru_maxrss` of the mm it replaced), so wait4 on a direct child reports at least the size of
the diary process at fork time: a program running `pass` measured 211 MiB while the tool held 200
MiB. The launcher is exec'd first (a fresh, small interpreter); it starts the program with
posix_spawn, so the program's mark starts from the launcher's few MiB, waits for it with wait4 and
writes that child's own figures (CPU seconds of it and of the descendants it waited for, its peak
resident set, its wait status) as one JSON object to a private file descriptor, closed to the
program. Under bwrap the sandbox's init (bwrap.py) is the launcher; without bwrap `launcher_command`
puts one in front. No report (the launcher was killed at a timeout): the caller falls back to
wait4's figures of the whole tree.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass

# Python source shared by the sandbox's init and the plain launcher: `spawn_and_report(argv, fd)`.
SPAWN_AND_REPORT = """\
def spawn_and_report(argv, report_fd):
    import json, os, signal, sys
    os.set_inheritable(report_fd, False)  # the program never holds the report's pipe
    try:
        pid = os.posix_spawn(argv[0], argv, os.environ, setsigdef=(signal.SIGPIPE, signal.SIGXFSZ))
    except OSError as error:
        sys.stderr.write(f"diary-sandbox: cannot start {argv[0]!r}: {error.strerror}\\n")
        sys.exit(127)
    _, status, usage = os.wait4(pid, 0)
    report = {"wait_status": status, "cpu_s": usage.ru_utime + usage.ru_stime, "maxrss_kb": usage.ru_maxrss}
    os.write(report_fd, json.dumps(report).encode())
    os.close(report_fd)
    code = os.waitstatus_to_exitcode(status)
    sys.exit(code if code >= 0 else 128 - code)
"""

_LAUNCHER = SPAWN_AND_REPORT + "import sys\nspawn_and_report(sys.argv[2:], int(sys.argv[1]))\n"


def launcher_command(argv: list[str], report_fd: int) -> list[str]:
    """`argv` run under the launcher, which reports on `report_fd` (passed to it, closed to the program)."""
    return [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(report_fd), *argv]


@dataclass(frozen=True)
class ChildUsage:
    """The program's own figures, as its launcher measured them."""

    exit_code: int  # os.waitstatus_to_exitcode: negative -N when killed by signal N
    cpu_s: float
    peak_mb: float

    @property
    def launcher_exit(self) -> int:
        """The exit status the launcher ends with after this report (128 + N for signal N)."""
        return self.exit_code if self.exit_code >= 0 else 128 - self.exit_code

    @classmethod
    def parse(cls, data: bytes, launcher_exit: int | None) -> ChildUsage | None:
        """The report, or None when there is none or it is not exactly what the launcher writes.

        A program that reached the pipe (as the same uid, through /proc) could add text or write a
        report of its own: anything but one object with the three keys is refused, and so is a
        report whose status is not the one the launcher then exited with. A forged report can at
        worst say more precisely what the launcher's exit status already says."""
        try:
            report = json.loads(data)
        except ValueError:
            return None
        if not isinstance(report, dict) or set(report) != {"wait_status", "cpu_s", "maxrss_kb"}:
            return None
        status, cpu_s, maxrss_kb = report["wait_status"], report["cpu_s"], report["maxrss_kb"]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) and v >= 0
                   for v in (status, cpu_s, maxrss_kb)) or not isinstance(status, int):
            return None
        try:
            usage = cls(exit_code=os.waitstatus_to_exitcode(status), cpu_s=float(cpu_s),
                        peak_mb=float(maxrss_kb) / 1024)
        except ValueError:
            return None
        return usage if usage.launcher_exit == launcher_exit else None
