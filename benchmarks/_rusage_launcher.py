"""Tiny launcher: run a command, then report its wall time and peak RSS as JSON.

Usage: python _rusage_launcher.py RESULT.json COMMAND [ARG ...]

Why a launcher: on Linux a child's ``ru_maxrss`` starts from the RSS of the process that
forked it (exec records the old address space's high-water mark), so a child spawned
straight from a large benchmark harness would report the harness's size.  This process
imports nothing but the standard library's smallest modules, forks the command, and
reads the command's own ``rusage`` with ``os.wait4`` (what ``/usr/bin/time`` does).
"""

import json
import os
import sys
import time


def main() -> int:
    result_path, command = sys.argv[1], sys.argv[2:]
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the command
        try:
            os.execvp(command[0], command)
        except OSError as e:
            os.write(2, f"cannot start {command[0]!r}: {e}\n".encode())
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    with open(result_path, "w") as fh:
        json.dump({"returncode": code, "seconds": seconds, "maxrss_kib": usage.ru_maxrss}, fh)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
