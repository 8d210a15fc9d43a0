"""Compile a Lambda artifact's modules to bytecode for the Python running this script (the runtime's).

Run by `make lambda-artifact` with the Python that scripts/lambda-python.sh finds. The Lambda's code
directory is read-only, so whatever ships without bytecode for the runtime's Python is compiled again
on every cold start. Dependencies ship as bytecode only (as large as their sources: the artifact stays
under its size goal); sidekiq_watch keeps its sources beside the bytecode, so tracebacks of our own
code show the failing line. Hash-based and unchecked: the zip's timestamps are not the build's, and the
code cannot change under a running Lambda. Standard library only: it runs on a bare interpreter.
"""

from __future__ import annotations

import importlib.util
import py_compile
import sys
from pathlib import Path

TASK_ROOT = "/var/task"  # where Lambda unpacks the artifact: the file names tracebacks show
KEEP_SOURCES = "sidekiq_watch"


def compile_artifact(root: Path) -> tuple[int, list[str]]:
    compiled, failures = 0, []
    for source in sorted(root.rglob("*.py")):
        relative = source.relative_to(root)
        keep_source = relative.parts[0] == KEEP_SOURCES
        target = importlib.util.cache_from_source(str(source)) if keep_source else f"{source}c"
        try:
            py_compile.compile(
                str(source),
                cfile=target,
                dfile=f"{TASK_ROOT}/{relative.as_posix()}",
                doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )
        except py_compile.PyCompileError as error:
            failures.append(f"{relative}: {error.msg.strip().splitlines()[-1]}")
            continue
        if not keep_source:
            source.unlink()
        compiled += 1
    return compiled, failures


def main() -> int:
    root = Path(sys.argv[1]).resolve()
    compiled, failures = compile_artifact(root)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    if failures:
        print(f"{len(failures)} modules in {root} do not compile with Python {version}:", file=sys.stderr)
        print("\n".join(f"  {failure}" for failure in failures), file=sys.stderr)
        return 1
    print(f"compiled {compiled} modules in {root} for Python {version}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
