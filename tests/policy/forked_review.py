"""The reviewer processes of test_hostile_programs.py: `mlplat review` as the console script runs it
(`apps/entry.run`), each in a process of its own, without paying the CLI's imports (a second or more) per case.

Run as a script, this process imports the CLI once, then forks one reviewer per request line on stdin
(`{"argv", "env", "cwd", "stdout", "stderr"}`): the reviewer gets that environment, directory and argv, writes
to those files, and its exit status is what `mlplat` would exit with. The parent answers each request with two
lines, `{"pid"}` at once and `{"status"}` (as `subprocess` reports it: -N for a signal) when the reviewer ended,
so the test can bound the reviewer in time and kill it; a reviewer that hangs, crashes or exits early takes
neither this process nor the test's down. The program under review still runs isolated by the reviewer, exactly
as under the console script.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
import traceback
from typing import Any

from mlops_platform.apps import entry
from mlops_platform.cli import mlplat

# The CLI imports a command's area when the command runs: every request is `mlplat review`, so its area is
# imported here, once, before the forks (the cost this file saves).
mlplat.register_areas("review")


def _review(request: dict[str, Any]) -> None:
    """In the forked child: become `mlplat ARGV` and never return."""
    code = 70
    try:
        for fd, path, flags in ((0, os.devnull, os.O_RDONLY), (1, request["stdout"], os.O_WRONLY | os.O_CREAT),
                                (2, request["stderr"], os.O_WRONLY | os.O_CREAT)):
            os.dup2(os.open(path, flags), fd)  # the parent's request and answer pipes are out of reach
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        sys.argv = ["mlplat", *request["argv"]]
        entry.run()
    except SystemExit as exc:  # as the interpreter maps it: None is 0, an int itself, anything else 1
        code = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # what the console script would print too (and the tests refuse)
        traceback.print_exc()
    finally:
        try:  # what interpreter exit does before the process ends (os._exit skips it): join non-daemon threads
            # and run atexit handlers, so a reviewer that leaves a thread or handler behind hangs or prints here too
            threading._shutdown()  # type: ignore[attr-defined]
            atexit._run_exitfuncs()
        finally:  # never back into the parent's request loop
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _review(request)
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"status": os.waitstatus_to_exitcode(status)}), flush=True)


if __name__ == "__main__":
    main()
