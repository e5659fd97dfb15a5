"""The kit's layout rules: one owner per fact.

    python -m tests.kit.layout_rules [ROOT]

prints one line per violation (``path:line: rule: subject: detail``) and exits 1 when there is
any, 0 otherwise. ROOT is the kit's directory (default: the one holding this file's ``tests/``).

Rules

``private-variable``
    A role reads a variable that another role defines. A role defines the keys of its
    ``defaults/*.yml`` and ``vars/*.yml`` and the names it sets with ``set_fact`` or ``register``
    in its tasks and handlers. Reads are the variables of its Jinja (templates, and template
    strings in tasks, handlers, defaults, vars and the ``default:`` values of
    ``meta/argument_specs.yml``) and of its conditions (``when``, ``changed_when``,
    ``failed_when``, ``until``, ``that``, debug's ``var``), including reads through
    ``hostvars[h]['v']``, ``hostvars[h].v``, ``map('extract', hostvars, 'v')`` (and the
    attributes a filter chain reads from such hostvars entries), ``vars['v']`` and
    ``lookup('vars', 'v')``. The variables of ``roles/site`` are site-wide: every role may
    read them.
``private-handler``
    A role notifies a handler of another role; only roles/site's handlers are shared.
``site-dependency``
    A role reads a site-wide variable or notifies a site handler, but its meta/main.yml does
    not depend on the site role directly (in a play without it, the variable would be
    undefined).
``duplicate-owner``
    A variable is defined by more than one role (a site-wide one redefined elsewhere, too).
``site-fallback``
    A role reads a site-wide variable through ``default(...)``: the site role defines it, so
    the fallback restates its default (a second owner of that value) or contradicts it. The
    boolean form, ``default(x, true)`` (a replacement for an empty value), is a computation and
    is allowed.
``site-literal``
    A value of roles/site's defaults appears outside roles/site: in another role's files, in
    ``playbooks/*.yml`` or in ``site.yml``. Checked are the distinctive values: port numbers
    and other integers of four digits or more, strings with a ``/``, ``.`` or ``:`` (paths,
    file names, URLs), a templated path both as its shape (``/srv/{{ ... }}``, any expression)
    and rendered with the site's defaults (``/srv/app``), the file names the kit makes up in a
    templated path (``green.live``; certbot's ``fullchain.pem``, ``privkey.pem``... name the files
    of every lineage and are not checked), and lists of two or more strings (``[blue, green]``)
    as YAML or Jinja lists. Bare words (``app``, ``www-data``, ``blue``), booleans and small
    numbers are not checked.
``unparsable``
    A file the rules cannot read (YAML or Jinja syntax): the other rules could not check it.

Deliberately ignored: YAML comments, Jinja comments, full-line ``#`` and ``//`` comments of
templates and static files, ``description``/``short_description`` text in ``meta/``, plain
text outside Jinja (a message that names a variable reads nothing), Jinja string constants, the
attributes of a value (``result.stat.exists``: only ``result`` is read), names a template or a
task makes local (``{% set %}``, ``{% for %}``, macro arguments, task and block ``vars:``,
``loop_var``, ``index_var``), ``!unsafe`` strings (never templated), and variables no role
defines (inventory settings, facts, magic variables). A name a template stores anywhere counts
as local everywhere in that template.
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

import jinja2
import yaml
from jinja2 import nodes

SITE: Final = "site"

PRIVATE_VARIABLE: Final = "private-variable"
PRIVATE_HANDLER: Final = "private-handler"
SITE_DEPENDENCY: Final = "site-dependency"
DUPLICATE_OWNER: Final = "duplicate-owner"
SITE_LITERAL: Final = "site-literal"
SITE_FALLBACK: Final = "site-fallback"
UNPARSABLE: Final = "unparsable"

# Task keywords whose strings are bare Jinja expressions.
CONDITION_KEYS: Final = frozenset({"when", "changed_when", "failed_when", "until", "that"})
DEBUG_MODULES: Final = frozenset({"debug", "ansible.builtin.debug", "ansible.legacy.debug"})
SET_FACT_MODULES: Final = frozenset(
    {"set_fact", "ansible.builtin.set_fact", "ansible.legacy.set_fact"}
)
BLOCK_KEYS: Final = ("block", "rescue", "always")
STR_TAG: Final = "tag:yaml.org,2002:str"
INT_TAG: Final = "tag:yaml.org,2002:int"
DESCRIPTION_KEYS: Final = frozenset({"description", "short_description"})

# Reading through hostvars and vars.
DICT_METHODS: Final = frozenset({"get", "keys", "items", "values"})
VARS_LOOKUPS: Final = frozenset({"vars", "ansible.builtin.vars"})
LOOKUP_FUNCTIONS: Final = frozenset({"lookup", "query", "q"})
# Filters that keep a sequence of hostvars entries one (a selection, an order).
PASSTHROUGH_FILTERS: Final = frozenset(
    {"list", "unique", "sort", "reverse", "select", "reject", "selectattr", "rejectattr", "shuffle"}
)
SINGLE_FILTERS: Final = frozenset({"first", "last", "random"})
DEFAULT_FILTERS: Final = frozenset({"default", "d"})
# Filters that read the attribute named by their `attribute=` (or first) argument.
ATTRIBUTE_FILTERS: Final = frozenset(
    {"map", "sort", "unique", "groupby", "sum", "min", "max", "selectattr", "rejectattr"}
)

# Path components of templated site values that are not the site's own invention: certbot names
# the files of every lineage so, under /etc/letsencrypt as well.
GENERIC_FILE_NAMES: Final = frozenset({"fullchain.pem", "privkey.pem", "cert.pem", "chain.pem"})
MIN_DISTINCTIVE_INT: Final = 1000

JINJA_COMMENT: Final = re.compile(r"\{#.*?#\}", re.DOTALL)
JINJA_EXPRESSION: Final = re.compile(r"\{\{.*?\}\}", re.DOTALL)
LINE_COMMENT: Final = re.compile(r"^\s*(#|//)")
# A path or file name ends where its characters end.
PATH_END: Final = r"(?![\w.\-])"
PATH_START: Final = r"(?<![\w.\-/~])"
NAME_START: Final = r"(?<![\w.\-])"

ENVIRONMENT: Final = jinja2.Environment(  # noqa: S701 (parsed, never rendered to HTML)
    extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"]
)


@dataclass(frozen=True, order=True)
class Violation:
    """One breach of a rule: where, which rule, which variable or literal, and why."""

    path: str
    line: int
    rule: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: {self.subject}: {self.detail}"


@dataclass(frozen=True)
class Read:
    """A variable a piece of Jinja reads, at a line relative to the start of the Jinja."""

    name: str
    line: int
    # Read through default() (not its boolean form): a fallback for when it is undefined.
    fallback: bool = False


@dataclass
class Role:
    """What a role defines, notifies and depends on."""

    name: str
    path: Path
    # Variable name -> (file, line) of its first definition in this role.
    defines: dict[str, tuple[Path, int]] = field(default_factory=dict)
    handlers: set[str] = field(default_factory=set)
    depends_on_site: bool = False
    meta_line: int = 1


@dataclass(frozen=True)
class SiteValue:
    """A distinctive value of the site's defaults, as a pattern to look for."""

    text: str
    owner: str
    pattern: re.Pattern[str]


@dataclass
class SiteLiterals:
    """Everything rule site-literal looks for."""

    literals: list[SiteValue] = field(default_factory=list)
    # Lists of the site's defaults (items as strings) -> the variable.
    lists: dict[tuple[str, ...], str] = field(default_factory=dict)


class Checker:
    """Runs every rule on one tree."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.violations: set[Violation] = set()
        self.roles: dict[str, Role] = {}
        self.definers: dict[str, set[str]] = {}
        self.handler_owners: dict[str, set[str]] = {}
        self._composed: dict[Path, list[yaml.Node]] = {}

    # --- Helpers ---

    def relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()

    def report(self, path: Path, line: int, rule: str, subject: str, detail: str) -> None:
        self.violations.add(Violation(self.relative(path), line, rule, subject, detail))

    def compose(self, path: Path) -> list[yaml.Node]:
        """The YAML documents of a file as nodes (with their lines); [] when unreadable."""
        if path not in self._composed:
            try:
                documents = list(
                    yaml.compose_all(path.read_text(encoding="utf-8"), yaml.SafeLoader)
                )
            except (yaml.YAMLError, UnicodeDecodeError) as error:
                line = getattr(getattr(error, "problem_mark", None), "line", 0) + 1
                self.report(path, line, UNPARSABLE, path.name, f"not YAML: {error}".splitlines()[0])
                documents = []
            self._composed[path] = [node for node in documents if node is not None]
        return self._composed[path]

    # --- Definitions ---

    def load_roles(self) -> None:
        roles_dir = self.root / "roles"
        if not roles_dir.is_dir():
            return
        for path in sorted(roles_dir.iterdir()):
            if path.is_dir() and not path.name.startswith("."):
                self.roles[path.name] = self.load_role(path)
        for role in self.roles.values():
            for name in role.defines:
                self.definers.setdefault(name, set()).add(role.name)
            for handler in role.handlers:
                self.handler_owners.setdefault(handler, set()).add(role.name)

    def load_role(self, path: Path) -> Role:
        role = Role(path.name, path)
        for folder in ("defaults", "vars"):
            for file in yaml_files(path / folder):
                for document in self.compose(file):
                    for key, _ in mapping_items(document):
                        role.defines.setdefault(str(key.value), (file, line_of(key)))
        for folder in ("tasks", "handlers"):
            for file in yaml_files(path / folder):
                for document in self.compose(file):
                    for task in tasks_of(document):
                        self.load_task(role, file, task, handler=folder == "handlers")
        meta = path / "meta" / "main.yml"
        if meta.is_file():
            for document in self.compose(meta):
                for key, value in mapping_items(document):
                    if key.value == "dependencies":
                        role.meta_line = line_of(key)
                        role.depends_on_site = SITE in dependency_names(value)
        return role

    def load_task(self, role: Role, file: Path, task: yaml.MappingNode, *, handler: bool) -> None:
        for key, value in mapping_items(task):
            if key.value == "register" and is_str(value):
                role.defines.setdefault(str(value.value), (file, line_of(value)))
            elif key.value in SET_FACT_MODULES:
                for fact, _ in mapping_items(value):
                    if fact.value != "cacheable":
                        role.defines.setdefault(str(fact.value), (file, line_of(fact)))
            elif handler and key.value in ("name", "listen"):
                role.handlers.update(scalar_strings(value))

    # --- Rule: private-variable, private-handler, site-dependency, duplicate-owner ---

    def check_reads(self, role: Role) -> None:
        site_reads: set[str] = set()
        for file, reads in self.reads_of(role):
            for read in reads:
                owners = self.definers.get(read.name, set())
                if not owners or role.name in owners:
                    continue
                if read.fallback:
                    if SITE in owners:
                        self.report(
                            file,
                            read.line,
                            SITE_FALLBACK,
                            read.name,
                            f"role {SITE} defines it: default() restates or contradicts its value",
                        )
                    continue
                if SITE in owners:
                    site_reads.add(read.name)
                    continue
                self.report(
                    file,
                    read.line,
                    PRIVATE_VARIABLE,
                    read.name,
                    f"role {role.name} reads a variable of role {', '.join(sorted(owners))}",
                )
        for file, line, handler in self.notifies_of(role):
            owners = self.handler_owners.get(handler, set())
            if not owners or role.name in owners:
                continue
            if SITE in owners:
                site_reads.add(f"handler '{handler}'")
                continue
            self.report(
                file,
                line,
                PRIVATE_HANDLER,
                handler,
                f"role {role.name} notifies a handler of role {', '.join(sorted(owners))}",
            )
        if site_reads and role.name != SITE and not role.depends_on_site:
            self.report(
                role.path / "meta" / "main.yml",
                role.meta_line,
                SITE_DEPENDENCY,
                ", ".join(sorted(site_reads)),
                f"role {role.name} reads site-wide names but does not depend on role {SITE}",
            )

    def check_duplicates(self) -> None:
        for name, owners in self.definers.items():
            if len(owners) < 2:
                continue
            for owner in sorted(owners - {SITE}):
                file, line = self.roles[owner].defines[name]
                others = ", ".join(sorted(owners - {owner}))
                self.report(file, line, DUPLICATE_OWNER, name, f"also defined by role {others}")

    def reads_of(self, role: Role) -> Iterator[tuple[Path, list[Read]]]:
        for folder in ("tasks", "handlers"):
            for file in yaml_files(role.path / folder):
                for document in self.compose(file):
                    yield file, list(self.yaml_reads(file, document, frozenset(), tasks=True))
        for folder in ("defaults", "vars"):
            for file in yaml_files(role.path / folder):
                for document in self.compose(file):
                    yield file, list(self.yaml_reads(file, document, frozenset(), tasks=False))
        specs = role.path / "meta" / "argument_specs.yml"
        if specs.is_file():
            for document in self.compose(specs):
                for default in mapping_values(document, "default"):
                    yield specs, list(self.yaml_reads(specs, default, frozenset(), tasks=False))
        for file in all_files(role.path / "templates"):
            text = read_text(file)
            if text is not None:
                yield file, list(self.jinja_reads(file, text, 1, frozenset(), expression=False))

    def notifies_of(self, role: Role) -> Iterator[tuple[Path, int, str]]:
        for folder in ("tasks", "handlers"):
            for file in yaml_files(role.path / folder):
                for document in self.compose(file):
                    for node in walk(document):
                        for key, value in mapping_items(node):
                            if key.value == "notify":
                                for handler in scalar_strings(value):
                                    if "{{" not in handler:
                                        yield file, line_of(value), handler

    def yaml_reads(
        self,
        file: Path,
        node: yaml.Node,
        local: frozenset[str],
        *,
        tasks: bool,
        condition: bool = False,
        condition_keys: frozenset[str] = CONDITION_KEYS,
    ) -> Iterator[Read]:
        if isinstance(node, yaml.ScalarNode):
            if not is_str(node):
                return
            text = str(node.value)
            if "{{" in text or "{%" in text:
                yield from self.jinja_reads(file, text, first_line(node), local, expression=False)
            elif condition and text.strip():
                yield from self.jinja_reads(file, text, first_line(node), local, expression=True)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                yield from self.yaml_reads(
                    file,
                    item,
                    local,
                    tasks=tasks,
                    condition=condition,
                    condition_keys=condition_keys,
                )
        elif isinstance(node, yaml.MappingNode):
            if tasks:
                local = local | task_locals(node)
            for key, value in node.value:
                name = key.value if isinstance(key, yaml.ScalarNode) else None
                keys = (
                    CONDITION_KEYS | {"var"} if tasks and name in DEBUG_MODULES else CONDITION_KEYS
                )
                yield from self.yaml_reads(
                    file,
                    value,
                    local,
                    tasks=tasks,
                    condition=tasks and name in condition_keys,
                    condition_keys=keys,
                )

    def jinja_reads(
        self, file: Path, text: str, line: int, local: frozenset[str], *, expression: bool
    ) -> Iterator[Read]:
        source = f"{{{{ {text} }}}}" if expression else text
        try:
            template = parse(source)
        except jinja2.TemplateSyntaxError as error:
            self.report(
                file, line + (error.lineno or 1) - 1, UNPARSABLE, file.name, error.message or ""
            )
            return
        for read in template_reads(template):
            if read.name not in local:
                yield replace(read, line=line + read.line - 1)

    # --- Rule: site-literal ---

    def site_literals(self) -> SiteLiterals:
        found = SiteLiterals()
        values: dict[str, object] = {}
        for folder in ("defaults", "vars"):
            for file in yaml_files(self.root / "roles" / SITE / folder):
                try:
                    data = yaml.safe_load(file.read_text(encoding="utf-8"))
                except (yaml.YAMLError, UnicodeDecodeError):
                    continue  # Reported by the other rules.
                if isinstance(data, dict):
                    values.update({str(key): value for key, value in data.items()})
        rendered = render_all(values)
        for name, value in values.items():
            for subject, scalar in flatten(name, value):
                found.literals.extend(literals_of(subject, scalar, rendered.get(subject)))
            if isinstance(value, list) and len(value) >= 2 and all(is_plain(v) for v in value):
                found.lists[tuple(str(item) for item in value)] = name
        return found

    def check_literals(self, site: SiteLiterals) -> None:
        # (file, the role folder it is in: templates are Jinja text whatever their name).
        files: list[tuple[Path, str]] = []
        for role in self.roles.values():
            if role.name != SITE:
                files.extend(
                    (file, file.relative_to(role.path).parts[0]) for file in all_files(role.path)
                )
        files.extend((file, "") for file in yaml_files(self.root / "playbooks"))
        files.extend((file, "") for file in (self.root / "site.yml",) if file.is_file())
        for file, folder in files:
            if file.suffix in (".yml", ".yaml") and folder != "templates":
                for document in self.compose(file):
                    self.yaml_literals(file, document, site, in_meta=folder == "meta")
            elif (text := read_text(file)) is not None:
                self.text_literals(file, text, site, template=folder == "templates")

    def yaml_literals(
        self, file: Path, node: yaml.Node, site: SiteLiterals, *, in_meta: bool
    ) -> None:
        if isinstance(node, yaml.ScalarNode):
            if node.tag in (STR_TAG, INT_TAG) or not node.tag.startswith("tag:yaml.org"):
                self.scalar_literals(file, str(node.value), first_line(node), site)
        elif isinstance(node, yaml.SequenceNode):
            items = tuple(
                str(item.value) for item in node.value if isinstance(item, yaml.ScalarNode)
            )
            if len(items) == len(node.value) and items in site.lists:
                owner = site.lists[items]
                self.report(
                    file, line_of(node), SITE_LITERAL, list_text(items), f"the value of {owner}"
                )
            for item in node.value:
                self.yaml_literals(file, item, site, in_meta=in_meta)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if in_meta and isinstance(key, yaml.ScalarNode) and key.value in DESCRIPTION_KEYS:
                    continue
                self.yaml_literals(file, value, site, in_meta=in_meta)

    def scalar_literals(self, file: Path, text: str, line: int, site: SiteLiterals) -> None:
        text = blank_comments(text)
        for offset, literal in find_literals(text, site.literals):
            self.report(
                file, line + offset, SITE_LITERAL, literal.text, f"the value of {literal.owner}"
            )
        if "{{" in text or "{%" in text:
            self.jinja_lists(file, text, line, site)

    def text_literals(self, file: Path, text: str, site: SiteLiterals, *, template: bool) -> None:
        if template:
            text = blank_comments(text)
        lines = ["" if LINE_COMMENT.match(line) else line for line in text.splitlines()]
        for offset, literal in find_literals("\n".join(lines), site.literals):
            self.report(
                file, 1 + offset, SITE_LITERAL, literal.text, f"the value of {literal.owner}"
            )
        if template:
            self.jinja_lists(file, text, 1, site)

    def jinja_lists(self, file: Path, text: str, line: int, site: SiteLiterals) -> None:
        try:
            template = parse(text)
        except jinja2.TemplateSyntaxError:
            return  # Reported by rule private-variable's parse.
        for node in template.find_all((nodes.List, nodes.Tuple)):
            if not isinstance(node, nodes.List | nodes.Tuple):
                continue
            items = tuple(str(item.value) for item in node.items if isinstance(item, nodes.Const))
            if len(items) == len(node.items) and items in site.lists:
                owner = site.lists[items]
                where = line + node.lineno - 1
                self.report(file, where, SITE_LITERAL, list_text(items), f"the value of {owner}")

    # --- All of it ---

    def run(self) -> list[Violation]:
        self.load_roles()
        for role in self.roles.values():
            self.check_reads(role)
        self.check_duplicates()
        if SITE in self.roles:
            self.check_literals(self.site_literals())
        return sorted(self.violations)


# --- YAML nodes ---


def yaml_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in (".yml", ".yaml"))


def all_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith(".")
    )


def read_text(file: Path) -> str | None:
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None


def is_str(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == STR_TAG


def is_plain(value: object) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool)


def line_of(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def first_line(node: yaml.ScalarNode) -> int:
    """The line of a scalar's first character of content (block scalars start a line later)."""
    return line_of(node) + (1 if node.style in ("|", ">") else 0)


def mapping_items(node: yaml.Node) -> Iterator[tuple[yaml.ScalarNode, yaml.Node]]:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                yield key, value


def mapping_values(node: yaml.Node, wanted: str) -> Iterator[yaml.Node]:
    """The values of every mapping key `wanted` anywhere below node."""
    for inner in walk(node):
        for key, value in mapping_items(inner):
            if key.value == wanted:
                yield value


def walk(node: yaml.Node) -> Iterator[yaml.Node]:
    yield node
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from walk(item)
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield from walk(key)
            yield from walk(value)


def scalar_strings(node: yaml.Node) -> list[str]:
    """A scalar's text, or the texts of a list's scalars."""
    if isinstance(node, yaml.ScalarNode):
        return [str(node.value)]
    if isinstance(node, yaml.SequenceNode):
        return [str(item.value) for item in node.value if isinstance(item, yaml.ScalarNode)]
    return []


def tasks_of(node: yaml.Node) -> Iterator[yaml.MappingNode]:
    """Every task of a task list, those inside blocks included."""
    if not isinstance(node, yaml.SequenceNode):
        return
    for task in node.value:
        if isinstance(task, yaml.MappingNode):
            yield task
            for key, value in mapping_items(task):
                if key.value in BLOCK_KEYS:
                    yield from tasks_of(value)


def task_locals(node: yaml.MappingNode) -> frozenset[str]:
    """Names a task or block makes local: its vars and its loop variables."""
    names: set[str] = set()
    for key, value in mapping_items(node):
        if key.value == "vars":
            names.update(str(name.value) for name, _ in mapping_items(value))
        elif key.value == "loop_control":
            for option, name in mapping_items(value):
                if option.value in ("loop_var", "index_var") and isinstance(name, yaml.ScalarNode):
                    names.add(str(name.value))
    return frozenset(names)


def dependency_names(node: yaml.Node) -> set[str]:
    names: set[str] = set()
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            if isinstance(item, yaml.ScalarNode):
                names.add(str(item.value))
            for key, value in mapping_items(item):
                if key.value in ("role", "name") and isinstance(value, yaml.ScalarNode):
                    names.add(str(value.value))
    return {name.rsplit(".", 1)[-1].rsplit("/", 1)[-1] for name in names}


# --- Jinja ---


def parse(source: str) -> nodes.Template:
    """A template's syntax tree. Jinja warns about regular expressions in string constants
    ('\\d' is no string escape); Ansible's templates are full of them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return ENVIRONMENT.parse(source)


def template_reads(template: nodes.Template) -> Iterator[Read]:
    """The variables a parsed template reads: its free names and what it reads through hostvars
    or vars. Names the template stores (set, for, macro arguments) are local to it."""
    stored = {name.name for name in template.find_all(nodes.Name) if name.ctx in ("store", "param")}
    for name in template.find_all(nodes.Name):
        if name.ctx == "load" and name.name not in stored:
            yield Read(name.name, name.lineno)
    for node in template.find_all((nodes.Getitem, nodes.Getattr, nodes.Call, nodes.Filter)):
        for read in indirect_reads(node):
            yield Read(read, node.lineno)
    for node in template.find_all(nodes.Filter):
        if (
            short(node.name) in DEFAULT_FILTERS
            and isinstance(node.node, nodes.Name)
            and node.node.name not in stored
            and len(node.args) < 2
            and keyword(node, "boolean") is None
        ):
            yield Read(node.node.name, node.lineno, fallback=True)


def const_str(node: nodes.Node | None) -> str | None:
    if isinstance(node, nodes.Const) and isinstance(node.value, str):
        return node.value
    return None


def first_key(node: nodes.Node | None) -> str | None:
    """The variable a key (or dotted attribute path, or list of keys) starts with."""
    if isinstance(node, nodes.List | nodes.Tuple) and node.items:
        node = node.items[0]
    text = const_str(node)
    return text.split(".", 1)[0] if text else None


def is_name(node: nodes.Node | None, name: str) -> bool:
    return isinstance(node, nodes.Name) and node.name == name


def short(name: str) -> str:
    """A filter's name without its collection (ansible.builtin.extract -> extract)."""
    return name.rsplit(".", 1)[-1]


def keyword(node: nodes.Filter, name: str) -> nodes.Node | None:
    for kwarg in node.kwargs:
        if kwarg.key == name:
            value: nodes.Node = kwarg.value
            return value
    return None


def is_entry(node: nodes.Node | None) -> bool:
    """Whether node is the variables of one host: hostvars[h], hostvars.get(h), vars."""
    if is_name(node, "vars"):
        return True
    if isinstance(node, nodes.Getitem):
        if is_name(node.node, "hostvars"):
            return True
        return isinstance(node.arg, nodes.Const) and is_entry_list(node.node)
    if isinstance(node, nodes.Getattr):
        return is_name(node.node, "hostvars") and node.attr not in DICT_METHODS
    if isinstance(node, nodes.Call):
        callee = node.node
        return (
            isinstance(callee, nodes.Getattr)
            and callee.attr == "get"
            and is_name(callee.node, "hostvars")
        )
    if isinstance(node, nodes.Filter):
        return short(node.name) in SINGLE_FILTERS and is_entry_list(node.node)
    return False


def is_entry_list(node: nodes.Node | None) -> bool:
    """Whether node is a sequence of hosts' variables: map('extract', hostvars), ..."""
    if isinstance(node, nodes.Filter):
        name = short(node.name)
        if name == "map":
            return (
                len(node.args) == 2
                and const_str(node.args[0]) in ("extract", "ansible.builtin.extract")
                and is_name(node.args[1], "hostvars")
                and not node.kwargs
            )
        return name in PASSTHROUGH_FILTERS and is_entry_list(node.node)
    if isinstance(node, nodes.Call):
        callee = node.node
        return (
            isinstance(callee, nodes.Getattr)
            and callee.attr == "values"
            and is_name(callee.node, "hostvars")
        )
    return False


def indirect_reads(node: nodes.Node) -> Iterator[str]:
    """The variable names node reads from a host's variables (hostvars, vars, lookup)."""
    if isinstance(node, nodes.Getitem):
        if is_entry(node.node) and (key := const_str(node.arg)):
            yield key
    elif isinstance(node, nodes.Getattr):
        if is_entry(node.node) and node.attr not in DICT_METHODS:
            yield node.attr
    elif isinstance(node, nodes.Call):
        callee = node.node
        if isinstance(callee, nodes.Getattr) and callee.attr == "get" and is_entry(callee.node):
            if node.args and (key := const_str(node.args[0])):
                yield key
        elif (
            isinstance(callee, nodes.Name)
            and callee.name in LOOKUP_FUNCTIONS
            and node.args
            and const_str(node.args[0]) in VARS_LOOKUPS
        ):
            yield from (key for arg in node.args[1:] if (key := const_str(arg)))
    elif isinstance(node, nodes.Filter):
        yield from filter_reads(node)


def filter_reads(node: nodes.Filter) -> Iterator[str]:
    name = short(node.name)
    args = node.args
    # map('extract', hostvars, 'v') and h | extract(hostvars, 'v')
    if (
        name == "map"
        and len(args) >= 3
        and const_str(args[0]) in ("extract", "ansible.builtin.extract")
        and is_name(args[1], "hostvars")
        and (key := first_key(args[2]))
    ):
        yield key
    if (
        name == "extract"
        and len(args) >= 2
        and is_name(args[0], "hostvars")
        and (key := first_key(args[1]))
    ):
        yield key
    # hostvars entries | map(attribute='v'), | selectattr('v.x', ...), | sort(attribute='v') ...
    if is_entry_list(node.node) and name in ATTRIBUTE_FILTERS:
        attribute = keyword(node, "attribute")
        if attribute is None and name in ("selectattr", "rejectattr", "groupby") and args:
            attribute = args[0]
        if key := first_key(attribute):
            yield key


# --- Site literals ---


def flatten(name: str, value: object) -> Iterator[tuple[str, object]]:
    """A value's scalars, each named by its path (app_tcp_ports.blue)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from flatten(f"{name}.{key}", inner)
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from flatten(f"{name}[{index}]", inner)
    else:
        yield name, value


def render_all(values: dict[str, object]) -> dict[str, str]:
    """The site's templated string values rendered with its own defaults (those that render)."""
    context: dict[str, object] = dict(values)
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)  # noqa: S701 (no HTML)
    rendered: dict[str, str] = {}
    for _ in range(5):  # Values that refer to values rendered in the previous round.
        for subject, value in ((s, v) for name, v0 in values.items() for s, v in flatten(name, v0)):
            if isinstance(value, str) and ("{{" in value or "{%" in value):
                try:
                    text = environment.from_string(value).render(context)
                except jinja2.TemplateError:
                    continue
                rendered[subject] = text
                if subject in context:
                    context[subject] = text
    return {key: text for key, text in rendered.items() if "{{" not in text and "{%" not in text}


def literals_of(subject: str, value: object, rendered: str | None) -> list[SiteValue]:
    """The patterns of one value of the site's defaults (none when it is not distinctive)."""
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        if abs(value) < MIN_DISTINCTIVE_INT:
            return []
        return [SiteValue(str(value), subject, re.compile(rf"(?<![\w.]){value}(?![\w])"))]
    if not isinstance(value, str):
        return []
    found: list[SiteValue] = []
    if "{{" not in value and "{%" not in value:
        if distinctive(value):
            found.append(SiteValue(value, subject, literal_pattern(value)))
        return found
    static = JINJA_EXPRESSION.split(value)
    # The shape: the static text around any expression (/srv/{{ ... }}).
    if "{%" not in value and any("/" in part for part in static) and "".join(static).strip("/"):
        shape = r"\{\{[^{}]*\}\}".join(re.escape(part) for part in static)
        start = PATH_START if value.startswith("/") else ""
        found.append(SiteValue(value, subject, re.compile(start + shape + PATH_END)))
    # Rendered with the site's defaults (/srv/app, app.internal).
    if rendered and distinctive(rendered):
        found.append(SiteValue(rendered, subject, literal_pattern(rendered)))
    # The file names the kit made up (green.live).
    for part in static:
        for component in part.split("/"):
            if (
                "." in component.strip(".")
                and len(component) >= 5
                and component not in GENERIC_FILE_NAMES
            ):
                pattern = re.compile(NAME_START + re.escape(component) + PATH_END)
                found.append(SiteValue(component, subject, pattern))
    return found


def distinctive(text: str) -> bool:
    """Paths, file names and URLs are; bare words (app, www-data) are not."""
    return len(text) >= 4 and any(mark in text for mark in "/.:")


def literal_pattern(text: str) -> re.Pattern[str]:
    start = PATH_START if text.startswith("/") else NAME_START
    return re.compile(start + re.escape(text) + PATH_END)


def find_literals(text: str, literals: Iterable[SiteValue]) -> list[tuple[int, SiteValue]]:
    """Each literal found in text, with its line offset; a match inside a longer one is dropped
    (/srv/app inside /srv/app/green.live)."""
    matches = [
        (match.start(), match.end(), literal)
        for literal in literals
        for match in literal.pattern.finditer(text)
    ]
    kept = [
        (start, literal)
        for start, end, literal in matches
        if not any(s <= start and end <= e and (s, e) != (start, end) for s, e, _ in matches)
    ]
    return [(text.count("\n", 0, start), literal) for start, literal in kept]


def blank_comments(text: str) -> str:
    """Jinja comments replaced by their newlines, so lines keep their numbers."""
    return JINJA_COMMENT.sub(lambda match: "\n" * match.group(0).count("\n"), text)


def list_text(items: Sequence[str]) -> str:
    return "[" + ", ".join(items) + "]"


# --- Entry points ---


def check(root: Path) -> list[Violation]:
    """Every violation of the layout rules in the kit at root, sorted by file and line."""
    return Checker(root.resolve()).run()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.kit.layout_rules",
        description="Check the kit's layout rules (one owner per fact).",
    )
    parser.add_argument(
        "root",
        nargs="?",
        type=Path,
        default=Path(__file__).resolve().parents[2],
        help="the kit's directory (default: this checkout)",
    )
    options = parser.parse_args(argv)
    root: Path = options.root
    if not (root / "roles").is_dir():
        parser.error(f"{root} has no roles/ directory")
    violations = check(root)
    for violation in violations:
        print(violation)
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
