"""`shipmate generate`: print (or write) the Spec of a stack.

    shipmate generate [-w STACK_DIR] [-o FILE] [--format yaml|json] [--kusion-exact]

The repository root is the nearest directory above the stack holding `workspaces/`,
`shipmate.yaml` or `.git`. Generated secret values are derived with `SHIPMATE_SECRET_SALT`
when it is set. Problems in the config go to stderr, one line each, with exit code 2.

Kusion's kind ordering is written once, as the Spec's `kindOrder`; `--kusion-exact` writes it
into every Kubernetes resource's `dependsOn` as Kusion does (quadratic in the stack's size),
to compare with a Spec Kusion printed.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import click

from bot.adapters.kcl import LocalKclCompiler
from bot.adapters.localfs import LocalConfigReader, find_repo_root
from bot.app.configrepo import generate_from
from bot.cli import environment, options
from bot.core.errors import ConfigError, Problem
from bot.core.generate import render_spec

EXAMPLES = """
shipmate generate                        # the Spec of the stack in this directory, as YAML
shipmate generate -w shop/dev --format json
shipmate generate -o spec.yaml           # written atomically: a failure leaves no half file
shipmate generate --kusion-exact         # Kusion's literal dependsOn lists, to diff with Kusion's
"""


@options.command("generate", "Generate the Spec of a stack (AppConfigurations + workspace + modules).",
                 EXAMPLES, short="Turn a stack into a Spec.")
@options.workdir
@click.option("-o", "--output", metavar="FILE", help="Write the Spec to FILE instead of stdout.")
@click.option("--format", "fmt", type=click.Choice(("yaml", "json")), default="yaml", show_default=True,
              help="Output format.")
@click.option("--no-style", is_flag=True, help="Accepted as Kusion does; a Spec is never styled.")
@click.option("--kusion-exact", is_flag=True,
              help="Write Kusion's kind ordering into every dependsOn list, as Kusion prints it, instead of kindOrder.")
def command(workdir: str, output: str | None, fmt: str, no_style: bool, kusion_exact: bool) -> int:
    stack_dir = Path(workdir)
    if not stack_dir.is_dir():
        raise ConfigError([Problem(str(stack_dir), 0, 0, "", "no such directory")])
    root = find_repo_root(stack_dir)
    rel = stack_dir.resolve().relative_to(root).as_posix()
    salt = environment.read().settings.storage.secret_salt
    spec = generate_from(LocalConfigReader(root), "" if rel == "." else rel, secret_salt=salt,
                         kcl=LocalKclCompiler(), warn=lambda warning: print(f"warning: {warning}", file=sys.stderr),
                         kusion_exact=kusion_exact)
    text = render_spec(spec, fmt)
    if output:
        try:
            write_atomically(Path(output), text)
        except OSError as exc:
            raise ConfigError([Problem(output, 0, 0, "", f"cannot write: {exc.strerror or exc}")]) from None
    else:
        sys.stdout.write(text)
    return 0


def write_atomically(path: Path, text: str) -> None:
    """Write via a temporary file in the same directory, so a failure leaves no half file."""
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
