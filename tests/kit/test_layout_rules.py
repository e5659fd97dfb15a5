"""The kit's layout rules (tests/kit/layout_rules.py): each rule fails on a fixture that breaks it,
a clean fixture passes, and so does the kit itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.kit.layout_rules import check, main, parse, template_reads

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "layout"

SITE_DEFAULTS = """---
app_name: demo
app_root: "/srv/{{ app_name }}"
app_live_port: 8000
site_colours: [blue, green]
site_live_marker: "{{ app_root }}/green.live"
"""
SITE_HANDLERS = """---
- name: Reload web
  ansible.builtin.debug:
    msg: reloaded
"""
DEPENDS_ON_SITE = "---\ndependencies:\n  - role: site\n"


def found(root: Path) -> list[tuple[str, int, str, str]]:
    return [(v.path, v.line, v.rule, v.subject) for v in check(root)]


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def site_and(root: Path, files: dict[str, str]) -> Path:
    """A tree with a small site role and the given files."""
    site = {
        "roles/site/defaults/main.yml": SITE_DEFAULTS,
        "roles/site/handlers/main.yml": SITE_HANDLERS,
    }
    return write_tree(root, {**site, **files})


# --- The fixtures ---


def test_the_bad_fixture_breaks_each_rule_and_nothing_else() -> None:
    assert found(FIXTURES / "bad") == [
        ("playbooks/serve.yml", 9, "site-literal", "/srv/demo/green.live"),
        ("roles/alpha/tasks/main.yml", 4, "private-variable", "beta_listen"),
        ("roles/beta/defaults/main.yml", 3, "site-literal", "8000"),
        ("roles/beta/defaults/main.yml", 5, "site-literal", "/etc/kit-internal-tls"),
        ("roles/beta/defaults/main.yml", 6, "private-variable", "alpha_data_dir"),
    ]


def test_the_clean_fixture_passes() -> None:
    assert check(FIXTURES / "clean") == []


def test_the_kit_follows_the_rules() -> None:
    violations = check(ROOT)
    assert violations == [], "\n".join(str(violation) for violation in violations)


def test_main_prints_one_line_per_violation_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(FIXTURES / "bad")]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5
    assert (
        "roles/beta/defaults/main.yml:6: private-variable: alpha_data_dir: "
        "role beta reads a variable of role alpha"
    ) in lines
    assert main([str(FIXTURES / "clean")]) == 0
    assert capsys.readouterr().out == ""


def test_it_runs_as_a_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.kit.layout_rules", str(FIXTURES / "bad")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "roles/alpha/tasks/main.yml:4: private-variable: beta_listen:" in result.stdout


# --- What counts as reading a variable ---


@pytest.mark.parametrize(
    ("source", "reads"),
    [
        pytest.param("{{ v }}", {"v"}, id="name"),
        pytest.param("{{ v.stat.exists }}", {"v"}, id="attribute-of-a-value"),
        pytest.param("{{ hostvars[h]['v'] }}", {"hostvars", "h", "v"}, id="hostvars-item"),
        pytest.param("{{ hostvars[h].v }}", {"hostvars", "h", "v"}, id="hostvars-attribute"),
        pytest.param("{{ hostvars.get(h).v }}", {"hostvars", "h", "v"}, id="hostvars-get"),
        pytest.param(
            "{{ hs | map('extract', hostvars, 'v') }}", {"hs", "hostvars", "v"}, id="map-extract"
        ),
        pytest.param(
            "{{ hs | map('extract', hostvars, ['v', 'x']) }}",
            {"hs", "hostvars", "v"},
            id="map-extract-keys",
        ),
        pytest.param("{{ h | extract(hostvars, 'v') }}", {"h", "hostvars", "v"}, id="extract"),
        pytest.param(
            "{{ hs | map('extract', hostvars) | selectattr('v.x', 'defined')"
            " | map(attribute='w.y') | list }}",
            {"hs", "hostvars", "v", "w"},
            id="attributes-of-hostvars-entries",
        ),
        pytest.param(
            "{{ (hs | map('extract', hostvars) | first).v }}",
            {"hs", "hostvars", "v"},
            id="first-hostvars-entry",
        ),
        pytest.param("{{ vars['v'] }}", {"vars", "v"}, id="vars"),
        pytest.param("{{ lookup('ansible.builtin.vars', 'v') }}", {"lookup", "v"}, id="lookup"),
        pytest.param("{{ 'v' ~ x['v'] }}", {"x"}, id="string-constants"),
        pytest.param("{# v #}{{ x }}", {"x"}, id="jinja-comment"),
        pytest.param("{% for v in xs %}{{ v }}{% endfor %}", {"xs"}, id="for-target"),
        pytest.param("{% set v = 1 %}{{ v }}", set(), id="set"),
        pytest.param("{% macro m(v) %}{{ v }}{% endmacro %}", set(), id="macro-argument"),
        pytest.param("{{ xs | map(attribute='v') }}", {"xs"}, id="attribute-of-other-values"),
    ],
)
def test_reads(source: str, reads: set[str]) -> None:
    assert {read.name for read in template_reads(parse(source))} == reads


def test_conditions_and_debug_var_are_expressions(tmp_path: Path) -> None:
    tasks = """---
- name: Conditions
  ansible.builtin.debug:
    var: beta_one
  when: beta_two | bool
  changed_when: [beta_three]
- name: Assertion
  ansible.builtin.assert:
    that: beta_four is defined
"""
    site_and(
        tmp_path,
        {
            "roles/alpha/tasks/main.yml": tasks,
            "roles/beta/defaults/main.yml": (
                "---\nbeta_one: 1\nbeta_two: 2\nbeta_three: 3\nbeta_four: 4\n"
            ),
        },
    )
    assert [(line, subject) for _, line, _, subject in found(tmp_path)] == [
        (4, "beta_one"),
        (5, "beta_two"),
        (6, "beta_three"),
        (9, "beta_four"),
    ]


def test_task_and_block_vars_and_loop_variables_are_local(tmp_path: Path) -> None:
    tasks = """---
- name: A block
  vars:
    beta_one: local
  block:
    - name: Reads the block's variable and its own loop variables
      ansible.builtin.debug:
        msg: "{{ beta_one }} {{ beta_two }} {{ beta_three }}"
      loop: [1, 2]
      loop_control:
        loop_var: beta_two
        index_var: beta_three
- name: Outside the block, beta_one is beta's
  ansible.builtin.debug:
    msg: "{{ beta_one }}"
"""
    site_and(
        tmp_path,
        {
            "roles/alpha/tasks/main.yml": tasks,
            "roles/beta/defaults/main.yml": "---\nbeta_one: 1\nbeta_two: 2\nbeta_three: 3\n",
        },
    )
    assert found(tmp_path) == [("roles/alpha/tasks/main.yml", 15, "private-variable", "beta_one")]


def test_set_fact_and_register_define_variables(tmp_path: Path) -> None:
    site_and(
        tmp_path,
        {
            "roles/alpha/tasks/main.yml": (
                "---\n- name: Set\n  ansible.builtin.set_fact:\n    alpha_fact: 1\n"
                "    cacheable: true\n  register: alpha_result\n"
            ),
            "roles/beta/templates/t.j2": "{{ alpha_fact }} {{ alpha_result.rc }} {{ cacheable }}\n",
        },
    )
    assert [subject for *_, subject in found(tmp_path)] == ["alpha_fact", "alpha_result"]


def test_argument_spec_defaults_are_read_but_descriptions_are_not(tmp_path: Path) -> None:
    specs = """---
argument_specs:
  main:
    short_description: Uses /srv/demo and 8000
    options:
      beta_x:
        default: "{{ alpha_x }}"
        description: Like alpha_x, on 8000 under /srv/demo ({{ alpha_y }}).
      beta_y:
        default: 8000
"""
    site_and(
        tmp_path,
        {
            "roles/alpha/defaults/main.yml": "---\nalpha_x: 1\nalpha_y: 2\n",
            "roles/beta/defaults/main.yml": "---\nbeta_x: 1\nbeta_y: 2\n",
            "roles/beta/meta/argument_specs.yml": specs,
        },
    )
    assert found(tmp_path) == [
        ("roles/beta/meta/argument_specs.yml", 7, "private-variable", "alpha_x"),
        ("roles/beta/meta/argument_specs.yml", 10, "site-literal", "8000"),
    ]


# --- The other rules ---


def test_site_variables_and_handlers_need_the_dependency(tmp_path: Path) -> None:
    tasks = """---
- name: Uses the site
  ansible.builtin.debug:
    msg: "{{ app_root }}"
  notify: Reload web
"""
    site_and(
        tmp_path,
        {
            "roles/alpha/tasks/main.yml": tasks,
            "roles/alpha/meta/main.yml": "---\ndependencies: []\n",
            "roles/beta/tasks/main.yml": tasks,
            "roles/beta/meta/main.yml": DEPENDS_ON_SITE,
        },
    )
    assert found(tmp_path) == [
        ("roles/alpha/meta/main.yml", 2, "site-dependency", "app_root, handler 'Reload web'"),
    ]


def test_another_roles_handler_is_private(tmp_path: Path) -> None:
    site_and(
        tmp_path,
        {
            "roles/alpha/handlers/main.yml": SITE_HANDLERS.replace("Reload web", "Restart alpha"),
            "roles/beta/tasks/main.yml": (
                "---\n- name: Notify\n  ansible.builtin.debug:\n    msg: hi\n"
                "  changed_when: true\n  notify: [Restart alpha]\n"
            ),
        },
    )
    assert found(tmp_path) == [("roles/beta/tasks/main.yml", 6, "private-handler", "Restart alpha")]


def test_a_variable_has_one_owner(tmp_path: Path) -> None:
    site_and(
        tmp_path,
        {
            "roles/alpha/defaults/main.yml": "---\napp_root: /srv/other\nshared: 1\n",
            "roles/beta/vars/main.yml": "---\nshared: 2\n",
        },
    )
    assert found(tmp_path) == [
        ("roles/alpha/defaults/main.yml", 2, "duplicate-owner", "app_root"),
        ("roles/alpha/defaults/main.yml", 3, "duplicate-owner", "shared"),
        ("roles/beta/vars/main.yml", 2, "duplicate-owner", "shared"),
    ]


def test_a_site_variable_needs_no_fallback(tmp_path: Path) -> None:
    site_and(
        tmp_path,
        {
            "roles/beta/meta/main.yml": DEPENDS_ON_SITE,
            "roles/beta/defaults/main.yml": """---
beta_one: "{{ app_name | default('demo') }}"
beta_two: "{{ app_name | d('demo') ~ (app_root | default('x', true)) }}"
beta_three: "{{ beta_one | default(1) }} {{ inventory_thing | default(2) }}"
""",
        },
    )
    assert found(tmp_path) == [
        ("roles/beta/defaults/main.yml", 2, "site-fallback", "app_name"),
        ("roles/beta/defaults/main.yml", 3, "site-fallback", "app_name"),
    ]


def test_site_literals_in_every_form(tmp_path: Path) -> None:
    site_and(
        tmp_path,
        {
            "roles/beta/defaults/main.yml": """---
beta_root: "/srv/{{ beta_name }}"
beta_marker: "{{ beta_root ~ '/green.live' }}"
beta_colours: [blue, green]
beta_loop: "{{ ['blue', 'green'] }}"
beta_port: 18000
beta_words: app www-data blue
beta_srv: /srv/demonstration
""",
            "roles/beta/files/run.sh": "#!/bin/sh\n# 8000 in a comment\nexec serve --port 8000\n",
            "roles/beta/templates/t.j2": "{# 8000 #}\n# 8000\nport {{ 8000 }}\n",
            "site.yml": "---\n- name: P\n  hosts: all\n  tasks: []\n  vars:\n    p: /srv/demo\n",
        },
    )
    assert found(tmp_path) == [
        ("roles/beta/defaults/main.yml", 2, "site-literal", "/srv/{{ app_name }}"),
        ("roles/beta/defaults/main.yml", 3, "site-literal", "green.live"),
        ("roles/beta/defaults/main.yml", 4, "site-literal", "[blue, green]"),
        ("roles/beta/defaults/main.yml", 5, "site-literal", "[blue, green]"),
        ("roles/beta/files/run.sh", 3, "site-literal", "8000"),
        ("roles/beta/templates/t.j2", 3, "site-literal", "8000"),
        ("site.yml", 6, "site-literal", "/srv/demo"),
    ]


def test_unparsable_files_are_reported(tmp_path: Path) -> None:
    site_and(
        tmp_path,
        {
            "roles/beta/defaults/main.yml": "---\nbeta_x: [unclosed\n",
            "roles/beta/templates/t.j2": "line\n{{ broken( }}\n",
        },
    )
    assert [(path, rule) for path, _, rule, _ in found(tmp_path)] == [
        ("roles/beta/defaults/main.yml", "unparsable"),
        ("roles/beta/templates/t.j2", "unparsable"),
    ]
