"""The ``raptor-lint`` command line (click).  A thin layer over ``runner`` and ``engine``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from raptor_lint import __version__
from raptor_lint.arguments import PathsAfterDoubleDash
from raptor_lint.config import ConfigError, load_config, validate_code

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def _fail(message: str) -> NoReturn:
    _echo_err(f"raptor-lint: error: {message}")
    sys.exit(EXIT_ERROR)


def _warn(message: str) -> None:
    _echo_err(f"raptor-lint: warning: {message}")


def _echo_err(line: str) -> None:
    """One line on stderr, as data: a file name in it cannot start another line (or carry
    a terminal escape), and a closed stderr is not an error of its own."""
    from raptor_lint.formats._terminal import escape_controls
    from raptor_lint.output import ReportWriteError, encode_report, write_report

    try:
        write_report(encode_report(escape_controls(line) + "\n"), to_stderr=True)
    except ReportWriteError:
        pass


def _emit(text: str | bytes, output_file: Path | None = None, *, to_stderr: bool = False) -> None:
    """Write a report (stdout, stderr or --output-file); a failure is one line and exit 2."""
    from raptor_lint.output import ReportWriteError, encode_report, write_report

    data = encode_report(text) if isinstance(text, str) else text
    try:
        write_report(data, output_file, to_stderr=to_stderr)
    except ReportWriteError as exc:
        _fail(str(exc))


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


# click 8.2 raises this for a bare `raptor-lint` (8.1 prints the help and exits itself); the
# name must not be looked up unguarded: pyproject allows click 8.1, where it does not exist.
_NO_ARGS_IS_HELP: type[click.UsageError] | tuple[()] = getattr(click.exceptions, "NoArgsIsHelpError", ())


class _Group(click.Group):
    """Every error is one line on stderr and exit 2 -- click's own usage errors too (a bad
    ``-j 0`` is ``raptor-lint: error: ...``, not three lines of usage) -- and no unexpected
    exception prints a traceback."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            status = super().main(args, prog_name, complete_var, False, **extra)
        except _NO_ARGS_IS_HELP as exc:  # bare `raptor-lint`: the help, exit 2
            exc.show()
            sys.exit(EXIT_ERROR)
        except click.UsageError as exc:
            message = " ".join(exc.format_message().split())
            where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            _fail(message + where if len(message + where) <= 120 else message)
        except click.ClickException as exc:
            _echo_err(f"raptor-lint: error: {' '.join(exc.format_message().split())}")
            sys.exit(exc.exit_code)
        except click.Abort:
            _echo_err("raptor-lint: interrupted")
            sys.exit(130)
        sys.exit(status if isinstance(status, int) else EXIT_CLEAN)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit):
            raise
        except KeyboardInterrupt:
            _echo_err("raptor-lint: interrupted")
            sys.exit(130)
        except BrokenPipeError:  # a reader that stopped early (`| head`) is not an error
            from raptor_lint.output import silence_closed_stream

            silence_closed_stream(sys.stdout)
            sys.exit(EXIT_CLEAN)
        except OSError as exc:
            name = f" {exc.filename}" if exc.filename else ""
            _fail(f"cannot access{name}: {exc.strerror or exc}")
        except Exception as exc:  # noqa: BLE001
            _echo_err(f"raptor-lint: internal error: {type(exc).__name__}: {exc}")
            sys.exit(EXIT_ERROR)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="raptor-lint")
def main() -> None:
    """Raptor's runbook review rules as machine checks."""


@main.command(cls=PathsAfterDoubleDash)  # after `--`, `-` is a file (raptor_lint/arguments.py)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path, readable=False))
@click.option("--select", help="Comma-separated codes or prefixes to enable (replaces the config).")
@click.option("--extend-select", help="Codes or prefixes to enable in addition to the configured ones.")
@click.option("--ignore", help="Comma-separated codes or prefixes to disable (replaces the config).")
@click.option("--extend-ignore", help="Codes or prefixes to disable in addition to the configured ones.")
@click.option("--format", "--output-format", "output_format", default="text", show_default=True,
              type=click.Choice(["text", "full", "json", "github", "sarif"]),
              help="Output format (full: source line, caret and the rule's why). Ruff's name works too.")
@click.option("--output-file", "-o", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the report to this file (replaced atomically) instead of standard output.")
@click.option("--fix", is_flag=True, help="Apply the safe fixes in place.")
@click.option("--unsafe-fixes/--no-unsafe-fixes", "unsafe_fixes", default=None,
              help="With --fix or --diff, also apply the unsafe fixes (default: the unsafe-fixes setting).")
@click.option("--diff", is_flag=True, help="Print the fixes --fix would apply as a unified diff; write nothing.")
@click.option("--show-fixes", is_flag=True,
              help="List each finding's fix (with --fix: the fixes applied, per file and code).")
@click.option("--add-noqa", is_flag=True,
              help="Add '# noqa: CODE' to every line with a finding (to adopt raptor-lint on existing code).")
@click.option("--statistics", is_flag=True, help="Print the number of findings per rule instead of the findings.")
@click.option("--base", metavar="REF", help="Only report what changed since git REF.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings.")
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="Read this pyproject.toml / setup.cfg.")
@click.option("--show-settings", is_flag=True,
              help="Print the resolved settings and where each came from; lint nothing.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the findings cache.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="Parallel processes (default: CPU count).")
@click.option("--stdin-filename", help="Name to report (and to pick rules by) when PATH is '-'.")
@click.option("--force-exclude", is_flag=True,
              help="Apply the configured exclude to files named on the command line too (pre-commit).")
@click.option("--verbose", "-v", is_flag=True, help="Explain skipped inputs on stderr.")
@click.option("--quiet", "-q", is_flag=True, help="Print the findings only: no summary, no 'Fixed' line.")
@click.option("--silent", "-s", is_flag=True, help="Print nothing but errors; the exit status still tells.")
@click.option("--no-color", "no_colour", is_flag=True, help="No colour (also NO_COLOR=1); FORCE_COLOR=1 forces it.")
def check(paths, select, extend_select, ignore, extend_ignore, output_format, output_file, fix, unsafe_fixes,
          diff, show_fixes, add_noqa, statistics, base, exit_zero, config_file, show_settings, no_cache, jobs,
          stdin_filename, force_exclude, verbose, quiet, silent, no_colour) -> None:
    """Lint PATHS (default: the current directory; '-' reads standard input)."""
    _collect_garbage_rarely()
    from raptor_lint import formats
    from raptor_lint.runner import CheckOptions, RunResult, UsageError, check_paths_exist, run_check

    path_list = list(paths) or [Path(".")]
    stdin = Path("-") in path_list
    if stdin and len(path_list) > 1:
        _fail("'-' (standard input) cannot be combined with other paths")
    if output_format not in formats.available():
        _fail(f"--format {output_format} is not available in this version")
    if diff and output_format != "text":
        _fail(f"--diff prints a unified diff; it cannot be combined with --format {output_format}")
    if base is not None and not base.strip():
        _fail("--base: empty git revision (give one, e.g. --base main)")
    if add_noqa and (fix or diff or stdin or base is not None):
        _fail("--add-noqa edits the files on disk; it cannot be combined with --fix, --diff, --base or '-'")
    if statistics and (diff or output_format not in ("text", "full", "json")):
        what = "--diff" if diff else f"--format {output_format}"
        _fail(f"--statistics prints a table (or JSON with --format json); it cannot be combined with {what}")
    try:
        check_paths_exist(path_list)
    except UsageError as exc:
        _fail(str(exc))
    code_options = _code_options(select, extend_select, ignore, extend_ignore)
    result = RunResult()
    config = None
    settings = []
    try:
        # Each path is linted with the configuration of the project it belongs to
        # (pre-commit passes files of every project of a monorepo in one call).
        for config, group in _projects(path_list, stdin_filename, config_file):
            config = _with_command_line(config, code_options)
            if show_settings:
                from raptor_lint.config import render_settings

                settings.append(render_settings(config))
                continue
            options = CheckOptions(paths=group, stdin_filename=stdin_filename, fix=fix, diff=diff,
                                   base=base, use_cache=not no_cache, jobs=jobs, verbose=verbose,
                                   force_exclude=force_exclude, unsafe_fixes=unsafe_fixes, add_noqa=add_noqa)
            result.merge(run_check(config, options))
    except (UsageError, ConfigError) as exc:
        _fail(str(exc))
    if show_settings:
        _emit("\n".join(settings), output_file)
        sys.exit(EXIT_CLEAN)
    for skipped in result.skipped:
        _warn(f"{skipped}: not a file raptor-lint checks (no rule reads {Path(skipped).suffix} files); skipped")
    for note in result.notes:
        _echo_err(note)
    if add_noqa:
        _add_noqa(result)
    quiet = quiet or silent
    if not quiet:
        for line in result.fix_summaries:
            _echo_err(line)
    if show_fixes and result.applied_fixes and not quiet:
        for line in _applied_fixes_listing(result.applied_fixes):
            _echo_err(line)
    if result.diff is not None:  # --diff: the patch is the output; exit 1 when there is one
        # Bytes, not text: a non-Python file's undecodable bytes are kept as surrogates
        # (source.decode_text) and must reach the patch as the bytes they were, whatever
        # the terminal's encoding (a strict UTF-8 stdout would raise on them).
        if not silent:
            _emit(result.diff.encode("utf-8", "surrogateescape"), output_file)
        sys.exit(EXIT_ERROR if result.has_internal_error else
                 EXIT_FINDINGS if result.diff and not exit_zero else EXIT_CLEAN)
    if result.fixed_stdin is not None:
        # --fix on standard input (editors, `| raptor-lint check --fix -`): the fixed source goes
        # to stdout, the findings that remain to stderr, as Ruff does.
        _emit(result.fixed_stdin.encode("utf-8", "surrogateescape"))
        if not silent:  # the report goes to -o when given, else to stderr
            _emit(_render(output_format, result, config, statistics, quiet, show_fixes, no_colour, output_file,
                          sys.stderr), output_file, to_stderr=True)
    elif not silent:
        _emit(_render(output_format, result, config, statistics, quiet, show_fixes, no_colour, output_file,
                      sys.stdout), output_file)
    if result.has_internal_error:
        sys.exit(EXIT_ERROR)
    if result.findings and not exit_zero:
        sys.exit(EXIT_FINDINGS)
    sys.exit(EXIT_CLEAN)


def _render(output_format, result, config, statistics, quiet, show_fixes, no_colour, output_file, stream) -> str:
    from raptor_lint import formats
    from raptor_lint.output import use_colour

    options = formats.RenderOptions(colour=use_colour(no_colour, stream, output_file), quiet=quiet,
                                    show_fixes=show_fixes)
    if statistics:
        from raptor_lint.formats._statistics import render_statistics

        return render_statistics(result, options, as_json=output_format == "json")
    return formats.renderer(output_format)(result, config, options)


def _code_options(select, extend_select, ignore, extend_ignore) -> dict[str, tuple[str, ...] | None]:
    """The rule-selection options, validated (an unknown code names its option)."""
    return {"select": _codes(select, "--select"), "extend-select": _codes(extend_select, "--extend-select"),
            "ignore": _codes(ignore, "--ignore"), "extend-ignore": _codes(extend_ignore, "--extend-ignore")}


def _with_command_line(config, code_options: dict[str, tuple[str, ...] | None]):
    """``config`` with the command line's selection: ``--select``/``--ignore`` replace the
    configured lists, ``--extend-select``/``--extend-ignore`` add to them (as in Ruff).  They
    go through ``config.with_settings`` so ``--show-settings`` says they came from it."""
    from raptor_lint.config import with_settings
    from raptor_lint.registry import known_code_prefix

    settings: dict[str, list[str]] = {}
    for key in ("select", "ignore"):
        replaced, extra = code_options[key], code_options[f"extend-{key}"]
        if replaced is None and not extra:
            continue
        settings[key] = [*(getattr(config, key) if replaced is None else replaced), *(extra or ())]
    return with_settings(config, settings, "command line", known_code_prefix) if settings else config


def _add_noqa(result) -> NoReturn:
    """--add-noqa: suppress every current finding in place, say how many, exit 0 (as Ruff)."""
    from raptor_lint.add_noqa import NoqaReport

    report = result.noqa_report or NoqaReport()
    for note in report.notes:
        _echo_err(note)
    noun = "directive" if report.added == 1 else "directives"
    files = "file" if report.files == 1 else "files"
    _echo_err(f"Added {report.added} noqa {noun} in {report.files} {files}.")
    # A file it had to leave alone still has findings: exit 1, as a check with findings does.
    sys.exit(EXIT_ERROR if result.has_internal_error else EXIT_FINDINGS if report.failed else EXIT_CLEAN)


def _applied_fixes_listing(applied) -> list[str]:
    """--show-fixes with --fix, as Ruff lists them: per file, ``N × CODE (name)``."""
    from raptor_lint.docs import RUN_CODE_NAMES
    from raptor_lint.registry import all_rules

    rules = all_rules()
    total = sum(sum(counts.values()) for counts in applied.values())
    lines = [f"Fixed {total} finding{'s' if total != 1 else ''}:"]
    for path in sorted(applied):
        lines.append(f"- {path}:")
        for code, count in sorted(applied[path].items()):
            name = rules[code].name if code in rules else RUN_CODE_NAMES.get(code, "")
            lines.append(f"    {count} × {code} ({name})")
    return lines


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
    from raptor_lint.runner import may_exist

    for path in paths:
        root = find_project_root(path if may_exist(path) else Path.cwd())
        groups.setdefault(root, []).append(path)
    return [(load_config(start=root, known_code=known_code_prefix), group)
            for root, group in groups.items()]


@main.command()
@click.option("--format", "output_format", default="table", show_default=True,
              type=click.Choice(["table", "markdown"]), help="table, or markdown (docs/rules.md).")
def rules(output_format: str) -> None:
    """List every rule."""
    from raptor_lint import docs

    _emit(docs.render_markdown() if output_format == "markdown" else docs.render_table())


@main.command()
@click.argument("code", required=False)
@click.option("--all", "all_rules_", is_flag=True, help="Every rule's documentation.")
@click.option("--format", "output_format", default="text", show_default=True,
              type=click.Choice(["text", "json"]), help="text (markdown), or json.")
def rule(code: str | None, all_rules_: bool, output_format: str) -> None:
    """Show one rule's documentation (CODE), or every rule's (--all)."""
    import json

    from raptor_lint import docs
    from raptor_lint.registry import all_rules

    if code is None and not all_rules_:
        _fail("give a rule code (e.g. `raptor-lint rule RPT101`) or --all")
    if code is not None and all_rules_:
        _fail("give a rule code or --all, not both")
    if all_rules_:
        catalogue = list(all_rules().values())
        if output_format == "json":
            _emit(json.dumps([docs.rule_json(r) for r in catalogue], indent=2, ensure_ascii=False) + "\n")
        else:
            _emit("\n".join(docs.render_rule(r) for r in catalogue))
        return
    assert code is not None
    wanted = code.strip().upper()
    found = all_rules().get(wanted)
    if found is None and wanted not in docs.RUN_CODES:
        _fail(f"unknown rule code {code!r} (see `raptor-lint rules`)")
    if output_format == "json":
        data = docs.rule_json(found) if found is not None else docs.run_code_json(wanted)
        _emit(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    else:
        _emit(docs.render_rule(found) if found is not None else docs.render_run_code(wanted))


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path, exists=True, file_okay=False))
def clean(paths) -> None:
    """Remove the findings cache of the project at PATHS (default: the current directory)."""
    from raptor_lint.cache import clear_cache
    from raptor_lint.config import find_project_root
    from raptor_lint.registry import known_code_prefix

    roots = dict.fromkeys(find_project_root(path) for path in (list(paths) or [Path(".")]))
    for root in roots:
        try:
            config = load_config(start=root, known_code=known_code_prefix)
        except ConfigError as exc:
            _fail(str(exc))
        removed = clear_cache(config)
        for directory in removed:
            _emit(f"Removed {directory}\n")
        if not removed:
            _emit(f"No cache to remove for {root.resolve()}\n")


@main.command()
def lsp() -> None:
    """Run the language server on stdio."""
    try:
        from raptor_lint.lsp import serve
    except ImportError as exc:
        _fail(f"the language server is not available: {exc}")
    serve()
