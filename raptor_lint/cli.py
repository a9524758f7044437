"""The ``raptor-lint`` command line (click).  A thin layer over ``runner`` and ``engine``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from raptor_lint import __version__
from raptor_lint.config import ConfigError, load_config, validate_code

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def _fail(message: str) -> NoReturn:
    click.echo(f"raptor-lint: error: {message}", err=True)
    sys.exit(EXIT_ERROR)


def _codes(value: str | None, option: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = [item for item in value.replace(",", " ").split() if item]
    if not items and option == "--select":
        _fail("--select: no rule codes given (to check nothing, do not run raptor-lint)")
    from raptor_lint.registry import known_code_prefix

    try:
        return tuple(validate_code(item, option, known_code_prefix) for item in items)
    except ConfigError as exc:
        _fail(str(exc))


class _Group(click.Group):
    """Turns click usage errors into exit 2 with one line (click already does) and
    never lets an unexpected exception print a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit):
            raise
        except KeyboardInterrupt:
            click.echo("raptor-lint: interrupted", err=True)
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001
            click.echo(f"raptor-lint: internal error: {type(exc).__name__}: {exc}", err=True)
            sys.exit(EXIT_ERROR)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="raptor-lint")
def main() -> None:
    """Raptor's runbook review rules as machine checks."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--select", help="Comma-separated codes or prefixes to enable (replaces the config).")
@click.option("--ignore", help="Comma-separated codes or prefixes to disable (replaces the config).")
@click.option("--format", "output_format", default="text", show_default=True,
              type=click.Choice(["text", "json", "github", "sarif"]), help="Output format.")
@click.option("--fix", is_flag=True, help="Apply the safe fixes in place.")
@click.option("--unsafe-fixes/--no-unsafe-fixes", "unsafe_fixes", default=None,
              help="With --fix or --diff, also apply the unsafe fixes (default: the unsafe-fixes setting).")
@click.option("--diff", is_flag=True, help="Print the fixes --fix would apply as a unified diff; write nothing.")
@click.option("--base", metavar="REF", help="Only report what changed since git REF.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings.")
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="Read this pyproject.toml / setup.cfg.")
@click.option("--no-cache", is_flag=True, help="Do not read or write .raptor_lint_cache/.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="Parallel processes (default: CPU count).")
@click.option("--stdin-filename", help="Name to report (and to pick rules by) when PATH is '-'.")
@click.option("--force-exclude", is_flag=True,
              help="Apply the configured exclude to files named on the command line too (pre-commit).")
@click.option("--verbose", "-v", is_flag=True, help="Explain skipped inputs on stderr.")
def check(paths, select, ignore, output_format, fix, unsafe_fixes, diff, base, exit_zero, config_file,
          no_cache, jobs, stdin_filename, force_exclude, verbose) -> None:
    """Lint PATHS (default: the current directory; '-' reads standard input)."""
    _collect_garbage_rarely()
    from raptor_lint import formats
    from raptor_lint.runner import CheckOptions, RunResult, UsageError, run_check

    path_list = list(paths) or [Path(".")]
    if Path("-") in path_list and len(path_list) > 1:
        _fail("'-' (standard input) cannot be combined with other paths")
    if output_format not in formats.available():
        _fail(f"--format {output_format} is not available in this version")
    if diff and output_format != "text":
        _fail(f"--diff prints a unified diff; it cannot be combined with --format {output_format}")
    overrides = {}
    if (codes := _codes(select, "--select")) is not None:
        overrides["select"] = codes
    if (codes := _codes(ignore, "--ignore")) is not None:
        overrides["ignore"] = codes
    result = RunResult()
    config = None
    try:
        # Each path is linted with the configuration of the project it belongs to
        # (pre-commit passes files of every project of a monorepo in one call).
        for config, group in _projects(path_list, stdin_filename, config_file):
            config = config.replace(**overrides) if overrides else config
            options = CheckOptions(paths=group, stdin_filename=stdin_filename, fix=fix, diff=diff,
                                   base=base, use_cache=not no_cache, jobs=jobs, verbose=verbose,
                                   force_exclude=force_exclude, unsafe_fixes=unsafe_fixes)
            result.merge(run_check(config, options))
    except (UsageError, ConfigError) as exc:
        _fail(str(exc))
    for note in result.notes:
        click.echo(note, err=True)
    if result.diff is not None:  # --diff: the patch is the output; exit 1 when there is one
        # Bytes, not text: a non-Python file's undecodable bytes are kept as surrogates
        # (source.decode_text) and must reach the patch as the bytes they were, whatever
        # the terminal's encoding (a strict UTF-8 stdout would raise on them).
        click.echo(result.diff.encode("utf-8", "surrogateescape"), nl=False)
        sys.exit(EXIT_ERROR if result.has_internal_error else
                 EXIT_FINDINGS if result.diff and not exit_zero else EXIT_CLEAN)
    if result.fixed_stdin is not None:
        # --fix on standard input (editors, `| raptor-lint check --fix -`): the fixed source goes
        # to stdout, the findings that remain to stderr, as Ruff does.
        click.echo(result.fixed_stdin.encode("utf-8", "surrogateescape"), nl=False)
        click.echo(formats.renderer(output_format)(result, config), nl=False, err=True)
    else:
        click.echo(formats.renderer(output_format)(result, config), nl=False)
    if result.has_internal_error:
        sys.exit(EXIT_ERROR)
    if result.findings and not exit_zero:
        sys.exit(EXIT_FINDINGS)
    sys.exit(EXIT_CLEAN)


def _collect_garbage_rarely() -> None:
    """Linting allocates millions of short-lived, acyclic objects (ast nodes, tokens): with
    CPython's default thresholds (700, 10, 10) the cyclic collector runs every few hundred
    nodes and keeps rescanning the long-lived project facts.  Measured on sqlalchemy (257
    files, one process): 11.7 s CPU -> 8.6 s.  Reference counting still frees every tree as
    soon as its file is done; only rare cycles wait longer.  The process is ours (the
    flake8 plugin and library callers keep their host's settings)."""
    import gc

    gc.set_threshold(100_000, 50, 100)


def _projects(paths: list[Path], stdin_filename: str | None, config_file: Path | None):
    """(config, paths) per project: paths grouped by the project root discovered for each."""
    from raptor_lint.config import find_project_root
    from raptor_lint.registry import known_code_prefix

    if config_file is not None:
        return [(load_config(config_file=config_file, known_code=known_code_prefix), paths)]
    if paths == [Path("-")]:
        # A buffer not yet saved has no file, but its name still says which project it belongs to.
        start = Path(stdin_filename) if stdin_filename else Path.cwd()
        return [(load_config(start=start, known_code=known_code_prefix), paths)]
    groups: dict[Path, list[Path]] = {}
    for path in paths:
        root = find_project_root(path if path.exists() else Path.cwd())
        groups.setdefault(root, []).append(path)
    return [(load_config(start=root, known_code=known_code_prefix), group)
            for root, group in groups.items()]


@main.command()
@click.option("--format", "output_format", default="table", show_default=True,
              type=click.Choice(["table", "markdown"]), help="table, or markdown (docs/rules.md).")
def rules(output_format: str) -> None:
    """List every rule."""
    from raptor_lint import docs

    if output_format == "markdown":
        click.echo(docs.render_markdown(), nl=False)
    else:
        click.echo(docs.render_table(), nl=False)


@main.command()
@click.argument("code")
def rule(code: str) -> None:
    """Show one rule's documentation."""
    from raptor_lint import docs
    from raptor_lint.registry import all_rules

    found = all_rules().get(code.strip().upper())
    if found is None and code.strip().upper() in docs.RUN_CODES:
        click.echo(docs.render_run_code(code.strip().upper()), nl=False)
        return
    if found is None:
        _fail(f"unknown rule code {code!r} (see `raptor-lint rules`)")
    click.echo(docs.render_rule(found), nl=False)


@main.command()
def lsp() -> None:
    """Run the language server on stdio."""
    try:
        from raptor_lint.lsp import serve
    except ImportError as exc:
        _fail(f"the language server is not available: {exc}")
    serve()
