"""Just enough of the POSIX shell to find commands, their words and redirections.

The ops-hygiene rules read shell that lives in many kinds of files: scripts,
Makefile recipes, Markdown code blocks, CI YAML ``run:`` steps, Procfiles.
Each reader turns its file into a ``Snippet``: shell text plus, for every
character, the (line, column) it came from in the file, so findings and fixes
point at the file's own bytes.

``parse(snippet)`` splits the text into simple commands, honouring quotes,
backslash escapes and ``\\``-newline continuations (one command), comments,
here-documents, ``&&``/``||``/``;``/``|``/``&`` separators, ``( … )`` and
``{ …; }`` groups (their redirections apply to every command inside) and
``$( … )``/backticks (kept inside the word; ``substitutions`` hands their text
back as snippets of their own, to parse in turn).  It never raises: unbalanced
quotes simply run to the end of the snippet.

``Command.argv`` finds the command that actually runs: after ``VAR=x``
assignments, reserved words and the wrappers that run the command after them
(``sudo -E -u deploy``, ``env -i VAR=x``, ``command``, ``exec -a name``,
``time -p``, ``nice -n 5``, ``nohup``, ``npx --yes``), with their options.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import repeat


_BLANK = " \t"
_OPERATOR_CHARS = ";&|()<>\n"
_RESERVED = frozenset({
    "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}",
})
_REDIRECT = re.compile(r"(\d*)(&>>|&>|>>|>\||>&|>|<<<|<<-|<<|<&|<>|<)")


class Snippet:
    """Shell text and the file position (1-based line, 1-based column) of each character."""

    def __init__(self, text: str = "", positions: list[tuple[int, int]] | None = None) -> None:
        self._parts = [text]  # joined on first read: a file is added line by line
        self._text: str | None = text
        self.positions: list[tuple[int, int]] = positions if positions is not None else []

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = "".join(self._parts)
            self._parts = [self._text]
        return self._text

    def add(self, text: str, line: int, column: int) -> None:
        self._parts.append(text)
        self._text = None
        self.positions.extend(zip(repeat(line), range(column, column + len(text))))

    def add_separator(self, char: str, line: int, column: int) -> None:
        """A character with no source of its own (the line break after a piece)."""
        self._parts.append(char)
        self._text = None
        self.positions.append((line, column))

    def position(self, offset: int) -> tuple[int, int]:
        if not self.positions:
            return (1, 1)
        offset = max(0, min(offset, len(self.positions) - 1))
        return self.positions[offset]

    def end_position(self, end: int) -> tuple[int, int]:
        """File position just after the character at ``end - 1``."""
        line, column = self.position(end - 1)
        return (line, column + 1)


@dataclass
class Word:
    raw: str
    value: str  # quotes removed, escapes resolved (approximately)
    start: int
    end: int


@dataclass
class Redirect:
    fd: int | None  # explicit fd, or None for the operator's default
    op: str
    target: str
    start: int
    end: int


@dataclass
class Command:
    words: list[Word] = field(default_factory=list)
    redirects: list[Redirect] = field(default_factory=list)
    # Redirections of the enclosing groups, outermost first.
    group_redirects: list[list[Redirect]] = field(default_factory=list)
    # The operator that ends the command ("&&", "||", ";", "|", "|&", "&", "\n", "" at end).
    terminator: str = ""
    end: int = 0  # offset just after the command's last word or redirection

    @property
    def start(self) -> int:
        items = [*(w.start for w in self.words), *(r.start for r in self.redirects)]
        return min(items) if items else self.end

    def argv(self) -> list[Word]:
        """The words of the command that runs: from its name on, after environment
        assignments, reserved words and wrappers (``sudo -E``, ``env VAR=x``, ``time -p``…)
        with their options.  Empty when no command runs (``command -v heroku``)."""
        words = self.words
        index = 0
        while index < len(words):
            head = words[index].value
            if head in _RESERVED or _ASSIGNMENT.match(words[index].raw):
                index += 1
                continue
            wrapper = _WRAPPERS.get(head.rsplit("/", 1)[-1] if head.startswith("/") else head)
            if wrapper is None:
                break
            index, runs = _skip_wrapper_options(words, index + 1, *wrapper)
            if not runs:
                return []
        return list(words[index:])


_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\+?=")
# Commands that run the command after them: (short options that take an argument, long
# options that take one, options after which no command runs).
_WRAPPERS: dict[str, tuple[str, frozenset[str], frozenset[str]]] = {
    "sudo": ("gpuCDrtTUR", frozenset({
        "--user", "--group", "--prompt", "--close-from", "--chdir", "--chroot", "--role", "--type",
        "--other-user", "--command-timeout", "--host",
    }), frozenset({"-l", "-v", "-k", "-K", "-e", "-V", "--list", "--validate", "--edit", "--version",
                   "--help", "--remove-timestamp"})),
    "env": ("uCS", frozenset({"--unset", "--chdir", "--split-string"}), frozenset({"-S", "--split-string"})),
    "command": ("", frozenset(), frozenset({"-v", "-V"})),
    "exec": ("a", frozenset(), frozenset()),
    "time": ("of", frozenset({"--output", "--format"}), frozenset()),
    "nice": ("n", frozenset({"--adjustment"}), frozenset()),
    "nohup": ("", frozenset(), frozenset()),
    "npx": ("pc", frozenset({"--package", "--call"}), frozenset({"-c", "--call"})),
}


def _skip_wrapper_options(words: list[Word], index: int, with_argument: str, long_with_argument: frozenset[str],
                          no_command: frozenset[str]) -> tuple[int, bool]:
    """The index of the first word after a wrapper's options, and whether a command runs."""
    while index < len(words):
        value = words[index].value
        if value == "--":
            return index + 1, True
        if not value.startswith("-") or value == "-":
            if value == "-":  # env's old spelling of -i
                index += 1
                continue
            return index, True
        if value.startswith("--"):
            name = value.split("=", 1)[0]
            if name in no_command:
                return index, False
            index += 2 if "=" not in value and name in long_with_argument else 1
            continue
        letters = value[1:]
        if any(f"-{letter}" in no_command for letter in letters):
            return index, False
        taken = 1
        for position, letter in enumerate(letters):
            if letter in with_argument:  # -u deploy, -udeploy, -Eu deploy
                taken = 2 if position == len(letters) - 1 else 1
                break
        index += taken
    return index, True


class _Group:
    def __init__(self, closer: str) -> None:
        self.closer = closer
        self.commands: list[Command] = []


def parse(snippet: Snippet) -> list[Command]:
    return _Parser(snippet.text).run()


class _Parser:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.commands: list[Command] = []
        self.current = Command()
        self.groups: list[_Group] = []
        self.pending_heredocs: list[tuple[str, bool]] = []
        self.last_group: _Group | None = None  # a group just closed: its redirections follow

    # ------------------------------------------------------------------ driver
    def run(self) -> list[Command]:
        s = self.s
        while self.i < len(s):
            c = s[self.i]
            if c in _BLANK:
                self.i += 1
            elif c == "\\" and s.startswith("\n", self.i + 1):
                self.i += 2  # line continuation: the command goes on
            elif c == "\\" and s.startswith("\r\n", self.i + 1):
                self.i += 3
            elif c == "#" and self._at_word_start():
                while self.i < len(s) and s[self.i] != "\n":
                    self.i += 1
            elif c == "\n":
                self._finish("\n")
                self.i += 1
                self._skip_heredocs()
            elif c == "\r" and s.startswith("\n", self.i + 1):
                self.i += 1
            elif self._redirect():
                continue
            elif c in ";&|":
                self._operator()
            elif c == "(":
                self._open_group(")")
                self.i += 1
            elif c == ")":
                self._close_group(")")
                self.i += 1
            else:
                word = self._word()
                if not self.current.words and not self.current.redirects and word.value == "{":
                    self._open_group("}")
                elif (not self.current.words and not self.current.redirects and word.value == "}"
                      and self.groups and self.groups[-1].closer == "}"):
                    self._close_group("}")
                else:
                    self.last_group = None
                    self.current.words.append(word)
                    self.current.end = word.end
        self._finish("")
        return self.commands

    def _at_word_start(self) -> bool:
        return self.i == 0 or self.s[self.i - 1] in " \t\n;&|()"

    # ------------------------------------------------------------------ structure
    def _finish(self, terminator: str) -> None:
        command = self.current
        if command.words or command.redirects:
            command.terminator = terminator
            command.group_redirects = [[] for _ in self.groups]
            for group in self.groups:
                group.commands.append(command)
            self.commands.append(command)
        self.current = Command()

    def _operator(self) -> None:
        s = self.s
        for op in ("&&", "||", ";;", ";&", "|&", ";", "|", "&"):
            if s.startswith(op, self.i):
                self._finish(op)
                self.i += len(op)
                self.last_group = None
                return
        self.i += 1  # pragma: no cover - every operator char is listed above

    def _open_group(self, closer: str) -> None:
        self._finish("")
        self.groups.append(_Group(closer))
        self.last_group = None

    def _close_group(self, closer: str) -> None:
        if not self.groups or self.groups[-1].closer != closer:
            return  # a case pattern's ")" or a stray brace: ignore
        self._finish(";")
        self.last_group = self.groups.pop()

    # ------------------------------------------------------------------ redirections
    def _redirect(self) -> bool:
        if not self._at_word_start() and not self.s[self.i] in "<>&":
            return False
        if self.s[self.i] == "&" and not self.s.startswith("&>", self.i):
            return False
        match = _REDIRECT.match(self.s, self.i)
        if match is None or (match.group(1) and not self._at_word_start()):
            return False
        start = self.i
        fd = int(match.group(1)) if match.group(1) else None
        op = match.group(2)
        self.i = match.end()
        if op in {">&", "<&"}:
            target_match = re.compile(r"\d+-?|-").match(self.s, self.i)
            if target_match and (target_match.end() == len(self.s)
                                 or self.s[target_match.end()] in " \t\n;&|()<>"):
                self.i = target_match.end()
                target = target_match.group(0)
                self._attach(Redirect(fd, op, target, start, self.i))
                return True
        while self.i < len(self.s) and self.s[self.i] in _BLANK:
            self.i += 1
        if self.i < len(self.s) and self.s[self.i] not in _OPERATOR_CHARS:
            word = self._word()
            target, end = word.value, word.end
            if op in {"<<", "<<-"}:
                self.pending_heredocs.append((word.value, op == "<<-"))
        else:
            target, end = "", self.i
        self._attach(Redirect(fd, op, target, start, end))
        return True

    def _attach(self, redirect: Redirect) -> None:
        if self.last_group is not None and not self.current.words and not self.current.redirects:
            index = len(self.groups)  # the closed group's depth
            for command in self.last_group.commands:
                if index < len(command.group_redirects):
                    command.group_redirects[index].append(redirect)
            return
        self.current.redirects.append(redirect)
        self.current.end = redirect.end

    def _skip_heredocs(self) -> None:
        while self.pending_heredocs:
            delimiter, strip_tabs = self.pending_heredocs.pop(0)
            while self.i < len(self.s):
                end = self.s.find("\n", self.i)
                line = self.s[self.i:end if end >= 0 else len(self.s)].rstrip("\r")
                self.i = end + 1 if end >= 0 else len(self.s)
                if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                    break

    # ------------------------------------------------------------------ words
    def _word(self) -> Word:
        s = self.s
        start = self.i
        value: list[str] = []
        while self.i < len(s):
            c = s[self.i]
            if c in _BLANK or c == "\n" or c in ";&|()<>":
                if c == "(" and value and s[self.i - 1] in "$<>=@":
                    pass
                else:
                    break
            if c == "\\":
                nxt = s[self.i + 1:self.i + 2]
                if nxt == "\n":
                    self.i += 2
                    continue
                value.append(nxt)
                self.i += 2
            elif c == "'":
                end = s.find("'", self.i + 1)
                end = len(s) if end < 0 else end
                value.append(s[self.i + 1:end])
                self.i = end + 1
            elif c == '"':
                self.i += 1
                while self.i < len(s) and s[self.i] != '"':
                    if s[self.i] == "\\" and self.i + 1 < len(s):
                        value.append(s[self.i + 1])
                        self.i += 2
                    elif s.startswith("$(", self.i):
                        value.append(self._balanced("(", ")"))
                    else:
                        value.append(s[self.i])
                        self.i += 1
                self.i += 1
            elif c == "`":
                end = s.find("`", self.i + 1)
                end = len(s) if end < 0 else end
                value.append(s[self.i:end + 1])
                self.i = end + 1
            elif c == "$" and s.startswith("$(", self.i):
                value.append(self._balanced("(", ")"))
            elif c == "$" and s.startswith("${", self.i):
                value.append(self._balanced("{", "}"))
            elif c == "(":
                value.append(self._balanced("(", ")"))
            else:
                value.append(c)
                self.i += 1
        self.i = min(self.i, len(s))
        return Word(s[start:self.i], "".join(value), start, self.i)

    def _balanced(self, opener: str, closer: str) -> str:
        """Consume ``$(…)``, ``${…}`` (from the ``$``) or ``(…)`` with nesting and quotes."""
        start = self.i
        self.i, _ = _balanced_end(self.s, self.s.index(opener, self.i) + 1, opener, closer)
        return self.s[start:self.i]


def _balanced_end(s: str, i: int, opener: str, closer: str) -> tuple[int, bool]:
    """From just after an ``opener``: the offset after its ``closer`` (nesting, quotes and
    backslashes honoured) and whether there was one (else the end of ``s``)."""
    depth = 1
    while i < len(s) and depth:
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if c in "'\"":
            end = s.find(c, i + 1)
            i = len(s) if end < 0 else end + 1
            continue
        if c == opener:
            depth += 1
        elif c == closer:
            depth -= 1
        i += 1
    return min(i, len(s)), depth == 0


# --------------------------------------------------------------------------- substitutions
@dataclass
class Substitution:
    """The text inside a ``$( … )`` or a pair of backticks, as a snippet of its own."""

    snippet: Snippet
    # The text runs as written: the substitution is closed, and (backticks) holds no
    # backslash escape that the shell would resolve before running it.
    exact: bool


def substitutions(snippet: Snippet, command: Command) -> list[Substitution]:
    """The command substitutions in ``command``'s words and redirection targets, outermost
    only (parse their snippets for the nested ones).  Not inside single quotes nor escaped;
    ``$(( … ))`` is arithmetic.  Here-document bodies are not read."""
    found: list[Substitution] = []
    spans = [(w.start, w.end) for w in command.words] + [(r.start, r.end) for r in command.redirects]
    for start, end in spans:
        found.extend(_substitutions_in(snippet, start, end))
    return found


def _substitutions_in(snippet: Snippet, start: int, end: int) -> list[Substitution]:
    s = snippet.text
    found = []
    i, quoted = start, False
    while i < end:
        c = s[i]
        if c == "\\":
            i += 2
        elif c == "'" and not quoted:
            close = s.find("'", i + 1, end)
            i = end if close < 0 else close + 1
        elif c == '"':
            quoted = not quoted
            i += 1
        elif c == "$" and s.startswith("((", i + 1):
            i, _ = _balanced_end(s, i + 2, "(", ")")
        elif c == "$" and s.startswith("(", i + 1):
            after, closed = _balanced_end(s, i + 2, "(", ")")
            inner = (i + 2, after - 1 if closed else after)
            found.append(Substitution(_slice(snippet, *inner), closed))
            i = after
        elif c == "`":
            close = s.find("`", i + 1)
            inner = (i + 1, close if close >= 0 else len(s))
            text = s[inner[0]:inner[1]]
            exact = close >= 0 and not re.search(r"\\[`$\\]", text)
            found.append(Substitution(_slice(snippet, *inner), exact))
            i = inner[1] + 1
        else:
            i += 1
    return found


def _slice(snippet: Snippet, start: int, end: int) -> Snippet:
    return Snippet(snippet.text[start:end], snippet.positions[start:end])


# --------------------------------------------------------------------------- output streams
SILENT_TARGETS = frozenset({"/dev/null", "&-"})


def output_streams(command: Command, base: tuple[str, str] = ("tty", "tty")) -> tuple[str, str]:
    """Where the command's stdout and stderr end up: "tty", "pipe", "/dev/null", a file..."""
    fds = {1: base[0], 2: base[1]}
    if command.terminator in {"|", "|&"}:
        fds[1] = "pipe"
        if command.terminator == "|&":
            fds[2] = "pipe"
    for redirects in [*command.group_redirects, command.redirects]:
        for redirect in redirects:
            _apply(fds, redirect)
    return fds[1], fds[2]


def _apply(fds: dict[int, str], redirect: Redirect) -> None:
    op, target = redirect.op, redirect.target
    if op in {"&>", "&>>"} or (op == ">&" and not re.fullmatch(r"\d+|-", target) and redirect.fd is None):
        fds[1] = fds[2] = target
    elif op == ">&":
        fd = 1 if redirect.fd is None else redirect.fd
        if target == "-":
            fds[fd] = "&-"
        elif target.isdigit():
            fds[fd] = fds.get(int(target), f"fd{target}")
        else:
            fds[fd] = target
    elif op in {">", ">>", ">|"}:
        fds[1 if redirect.fd is None else redirect.fd] = target


CAPTURED = "capture"


def substitution_streams(command: Command, base: tuple[str, str] = ("tty", "tty")) -> tuple[str, str]:
    """Where a command substitution in ``command``'s words writes: its stdout is captured,
    its stderr is the shell's under the enclosing groups' redirections (the command's own
    redirections are performed after its words are expanded: ``x=$(cmd) 2>/dev/null`` still
    shows cmd's errors)."""
    return CAPTURED, output_streams(Command(group_redirects=command.group_redirects), base)[1]


def is_silenced(command: Command, base: tuple[str, str] = ("tty", "tty")) -> bool:
    out, err = output_streams(command, base)
    return out in SILENT_TARGETS and err in SILENT_TARGETS


def is_exec_redirect_only(command: Command) -> bool:
    """``exec >/dev/null 2>&1``: redirects the rest of the script."""
    return [w.value for w in command.words] == ["exec"] and bool(command.redirects)


# --------------------------------------------------------------------------- Markdown
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


@dataclass
class FencedBlock:
    info: str  # the info string's first word, lower-cased ("" when unlabeled)
    fence_line: int  # 1-based line of the opening fence
    indent: int
    first: int  # 1-based line numbers of the content, first..last inclusive
    last: int


def fenced_blocks(lines: list[str]) -> list[FencedBlock]:
    """CommonMark-style fenced code blocks (``` or ~~~), an unclosed one runs to the end."""
    blocks = []
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if match is None or (match.group("fence")[0] == "`" and "`" in match.group("info")):
            index += 1
            continue
        fence = match.group("fence")
        language = re.match(r"\s*\{?\.?([A-Za-z0-9_+-]*)", match.group("info"))
        info = language.group(1).lower() if language else ""
        start = index + 1
        end = start
        while end < len(lines):
            closing = _FENCE.match(lines[end])
            if (closing and closing.group("fence")[0] == fence[0]
                    and len(closing.group("fence")) >= len(fence) and not closing.group("info").strip()):
                break
            end += 1
        blocks.append(FencedBlock(info, index + 1, len(match.group("indent")), start + 1, end))
        index = end + 1
    return blocks
