"""File names are data: what ``--`` means on the ``check`` command line.

click already ends option parsing at ``--``, so a file named ``--exit-zero`` after it is a
path, not a flag (the pre-commit hook's entry ends with ``--`` for that reason: pre-commit
appends the staged file names, and a committed ``--fix`` must not rewrite the working tree
during a commit).  One name keeps a meaning of its own after ``--`` in click: ``-``,
standard input.  Here, as in git, everything after ``--`` is a path: ``-`` there names
the file called ``-`` in the working directory (pre-commit hands over files, and its
hooks get an empty standard input, so reading stdin would check nothing and pass).
Before ``--``, ``-`` still means standard input.
"""

from __future__ import annotations

import os

import click


class PathsAfterDoubleDash(click.Command):
    """A click command whose arguments after the end-of-options ``--`` are all file names."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        end = _end_of_options(args, _options_taking_a_value(self))
        if end is not None:
            # An absolute path: pathlib would fold "./-" back into "-".
            args = [*args[:end + 1],
                    *(os.path.join(os.getcwd(), "-") if arg == "-" else arg for arg in args[end + 1:])]
        return super().parse_args(ctx, args)


def _options_taking_a_value(command: click.Command) -> set[str]:
    names: set[str] = set()
    for param in command.params:
        if isinstance(param, click.Option) and not param.is_flag and not param.count:
            names.update(param.opts)
    return names


def _end_of_options(args: list[str], takes_a_value: set[str]) -> int | None:
    """Index of the ``--`` that ends the options (not one given as an option's value)."""
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            return index
        index += 2 if arg in takes_a_value else 1
    return None
