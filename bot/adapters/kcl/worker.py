"""The child process that runs kcl-lib on one stack: limits itself, compiles, prints JSON.

Run by `compiler.LocalKclCompiler` as `python -I worker.py`, with the job on standard input
(`work_dir`, `files`, `pkgs`, `memory_bytes`, `cpu_seconds`) and `{"yaml": ...}` or
`{"error": ...}` on standard output (with the source map of the top-level values). The address-space and CPU limits are set before kcl-lib
is loaded, so a program that loops or grows without bound ends here, not in the bot.
"""

from __future__ import annotations

import json
import resource
import sys


def main() -> int:
    job = json.load(sys.stdin)
    memory = int(job["memory_bytes"])
    cpu = int(job["cpu_seconds"])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    import kcl_lib.api as api  # after the limits: its native library is what they bound

    args = api.ExecProgramArgs(
        work_dir=job["work_dir"],
        k_filename_list=job["files"],
        external_pkgs=[api.ExternalPkg(pkg_name=name, pkg_path=path) for name, path in job["pkgs"]],
        # As Kusion's buildKCLOptions: full schema type paths (`_type`) and no None values.
        include_schema_type_path=True,
        disable_none=True,
        error_format="short",
        sourcemap_output="yaml",
    )
    try:
        result = api.API().exec_program(args)
    except Exception as exc:  # kcl-lib raises a bare Exception carrying the diagnostics
        print(json.dumps({"error": str(exc)}))
        return 0
    if result.err_message:
        print(json.dumps({"error": result.err_message}))
    else:
        print(json.dumps({"yaml": result.yaml_result, "sourcemap": result.sourcemap}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
