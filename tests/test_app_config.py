"""RPT505 env-config-overwritten: what the fixture project (tests/fixtures/app_config) does
not spell out — every spelling of an environment read, loaders that can and cannot
overwrite a key, branches that never both run, and the exact positions and messages."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from raptor_lint.config import Config
from raptor_lint.engine import Engine
from raptor_lint.rules.app_config import RULES, AppConfigChecker

ROOT = Path(__file__).resolve().parent
ENGINE = Engine(Config(root=ROOT))


def _lint(source: str, engine: Engine = ENGINE) -> list[tuple[int, int, str]]:
    text = textwrap.dedent(source)
    result = engine.lint_text(text, ROOT / "factory.py", "python", "factory.py")
    return [(f.line, f.column, f.message) for f in result.findings if f.code == "RPT505"]


def _lines(source: str, engine: Engine = ENGINE) -> list[int]:
    return [line for line, _, _ in _lint(source, engine)]


def test_the_staging_boot_failure_shape() -> None:
    assert _lint(RULES[0].bad) == [
        (8, 5, "app.config['WEBAUTHN_RP_ID'] can be overwritten by from_pyfile() on line 11: "
               "re-pin it after"),
        (9, 5, "app.config['WEBAUTHN_ORIGIN'] can be overwritten by from_pyfile() on line 11: "
               "re-pin it after"),
    ]
    assert all(len(message) <= 130 for _, _, message in _lint(RULES[0].bad))


def _factory(imports: str, value: str, loader: str = 'app.config.from_pyfile("raptor.cfg", silent=True)') -> str:
    return f"""\
{imports}
from flask import Flask


def create_app():
    app = Flask(__name__)
    app.config["WEBAUTHN_ORIGIN"] = {value}
    {loader}
    return app
"""


@pytest.mark.parametrize("imports, value", [
    ("import os", 'os.environ["WEBAUTHN_ORIGIN"]'),
    ("import os", 'os.environ.get("WEBAUTHN_ORIGIN", "")'),
    ("import os", 'os.getenv("WEBAUTHN_ORIGIN")'),
    ("import os", 'os.environ.setdefault("WEBAUTHN_ORIGIN", "")'),
    ("import os", 'os.environ.get("WEBAUTHN_ORIGIN", "").rstrip("/") or None'),
    ("import os as o", 'o.environ["WEBAUTHN_ORIGIN"]'),
    ("from os import environ", 'environ.get("WEBAUTHN_ORIGIN")'),
    ("from os import environ as env", 'env["WEBAUTHN_ORIGIN"]'),
    ("from os import getenv", 'getenv("WEBAUTHN_ORIGIN")'),
    ("from os import getenv as ge", 'ge("WEBAUTHN_ORIGIN", "")'),
    ("import os\nORIGIN = os.environ.get('WEBAUTHN_ORIGIN')", "ORIGIN"),
    ("import os\n\n\ndef _env(name):\n    return os.environ.get(name, '')\n", '_env("WEBAUTHN_ORIGIN")'),
])
def test_every_spelling_of_an_environment_read(imports: str, value: str) -> None:
    source = _factory(imports, value)
    line = source.splitlines().index(f'    app.config["WEBAUTHN_ORIGIN"] = {value}') + 1
    assert _lines(source) == [line]


@pytest.mark.parametrize("imports, value", [
    ("from flask import request", 'request.environ.get("WEBAUTHN_ORIGIN")'),  # the WSGI environ
    ("environ = {'WEBAUTHN_ORIGIN': 'x'}", 'environ["WEBAUTHN_ORIGIN"]'),  # a dict of the module
    ("import os", '"https://raxx.app"'),
    ("import os", "lambda: os.environ['WEBAUTHN_ORIGIN']"),  # read when called, not here
    ("class os:\n    environ = {}", 'os.environ["WEBAUTHN_ORIGIN"]'),  # not the os module
])
def test_values_not_from_the_environment(imports: str, value: str) -> None:
    assert _lines(_factory(imports, value)) == []


def test_a_local_bound_to_an_environment_read() -> None:
    assert _lines("""\
        import os
        from flask import Flask

        def create_app():
            app = Flask(__name__)
            origin = os.environ.get("WEBAUTHN_ORIGIN", "")
            app.config["WEBAUTHN_ORIGIN"] = origin
            default = "https://raxx.app"
            app.config["FRONTEND_ORIGIN"] = default
            app.config.from_pyfile("raptor.cfg")
            return app
        """) == [7]


@pytest.mark.parametrize("loader, fires", [
    ('app.config.from_pyfile("raptor.cfg")', True),
    ('app.config.from_object("raptor.settings.Production")', True),
    ('app.config.from_file("raptor.toml", load=tomllib.load, text=False)', True),
    ('app.config.from_envvar("RAPTOR_SETTINGS")', True),
    ("app.config.update(WEBAUTHN_ORIGIN='')", True),
    ("app.config.update({'WEBAUTHN_ORIGIN': ''})", True),
    ("app.config.from_mapping(mapping={'WEBAUTHN_ORIGIN': ''})", True),
    ("app.config.update(read_secrets())", True),  # keys from elsewhere
    ("app.config.update(**read_secrets())", True),
    ("app.config.update(DEBUG=False)", False),
    ("app.config.update({'DEBUG': False}, TESTING=False)", False),
    ("app.config.from_mapping(dict(DEBUG=False))", False),
    ("app.config.update(WEBAUTHN_ORIGIN=os.environ['WEBAUTHN_ORIGIN'])", False),  # a re-pin
    ("app.config.get('WEBAUTHN_ORIGIN')", False),
    ("other.config.from_pyfile('raptor.cfg')", False),  # not the factory's app
])
def test_which_loaders_can_overwrite_the_key(loader: str, fires: bool) -> None:
    source = _factory("import os\nimport tomllib\nfrom raptor_app.vault import read_secrets, other",
                      'os.environ["WEBAUTHN_ORIGIN"]', loader)
    assert _lines(source) == ([9] if fires else [])


def test_the_message_names_the_last_loader_and_its_line() -> None:
    assert _lint("""\
        import os
        from flask import Flask

        def create_app():
            app = Flask(__name__)
            app.config.update(WEBAUTHN_ORIGIN=os.environ.get("WEBAUTHN_ORIGIN"), DEBUG=False)
            app.config.from_object("raptor.settings")
            app.config.from_envvar("RAPTOR_SETTINGS", silent=True)
            app.config["SESSION_COOKIE_SECURE"] = True
            return app
        """) == [(6, 23, "app.config['WEBAUTHN_ORIGIN'] can be overwritten by from_envvar() on line 8: "
                         "re-pin it after")]


def test_re_pinned_after_the_last_loader_even_conditionally() -> None:
    assert _lines("""\
        import os
        from flask import Flask

        def create_app():
            app = Flask(__name__)
            app.config["WEBAUTHN_ORIGIN"] = os.environ.get("WEBAUTHN_ORIGIN", "")
            app.config["WEBAUTHN_RP_ID"] = os.environ.get("WEBAUTHN_RP_ID", "")
            app.config.from_pyfile("raptor.cfg", silent=True)
            if "WEBAUTHN_ORIGIN" in os.environ:
                app.config["WEBAUTHN_ORIGIN"] = os.environ["WEBAUTHN_ORIGIN"]
            app.config.setdefault("WEBAUTHN_RP_ID", os.environ.get("WEBAUTHN_RP_ID"))
            return app
        """) == [7]  # setdefault keeps the loaded value: not a re-pin


def test_setdefault_from_the_environment_before_a_loader() -> None:
    assert _lint("""\
        import os
        from flask import Flask

        def create_app():
            app = Flask(__name__)
            app.config.setdefault("WEBAUTHN_ORIGIN", os.environ.get("WEBAUTHN_ORIGIN"))
            app.config.from_pyfile("raptor.cfg")
            return app
        """) == [(6, 5, "app.config['WEBAUTHN_ORIGIN'] can be overwritten by from_pyfile() on line 7: "
                        "re-pin it after")]


@pytest.mark.parametrize("body", [
    """\
    if testing:
        app.config.from_object("raptor.settings.Testing")
    else:
        app.config["WEBAUTHN_ORIGIN"] = os.environ["WEBAUTHN_ORIGIN"]
    """,
    """\
    match os.environ.get("RAPTOR_ENV"):
        case "dev":
            app.config["WEBAUTHN_ORIGIN"] = os.environ.get("WEBAUTHN_ORIGIN", "http://localhost")
        case _:
            app.config.from_pyfile("production.cfg")
    """,
    """\
    try:
        app.config.from_pyfile("local.cfg")
    except FileNotFoundError:
        app.config["WEBAUTHN_ORIGIN"] = os.environ["WEBAUTHN_ORIGIN"]
    except OSError:
        app.config.from_envvar("RAPTOR_SETTINGS")
    """,
    """\
    (app.config.update(WEBAUTHN_ORIGIN=os.environ["WEBAUTHN_ORIGIN"]) if testing
     else app.config.from_pyfile("raptor.cfg"))
    """,
])
def test_branches_that_never_both_run(body: str) -> None:
    source = "import os\nfrom flask import Flask\n\ndef create_app(testing=False):\n" \
        "    app = Flask(__name__)\n" + textwrap.indent(textwrap.dedent(body), "    ") + "    return app\n"
    assert _lines(source) == []


def test_a_try_body_and_its_handler_can_both_run() -> None:
    assert _lines("""\
        import os
        from flask import Flask

        def create_app():
            app = Flask(__name__)
            try:
                app.config["WEBAUTHN_ORIGIN"] = os.environ["WEBAUTHN_ORIGIN"]
                app.config["WEBAUTHN_RP_ID"] = os.environ["WEBAUTHN_RP_ID"]
            except KeyError:
                app.config.from_pyfile("fallback.cfg")
            return app
        """) == [7, 8]  # a KeyError from line 8 runs the handler after line 7 set the key


def test_only_the_factory_body_in_order() -> None:
    assert _lines("""\
        import os
        from flask import Flask

        def configure(app):
            app.config["WEBAUTHN_ORIGIN"] = os.environ["WEBAUTHN_ORIGIN"]
            app.config.from_pyfile("raptor.cfg")

        def create_app():
            app = Flask(__name__)
            app.config.from_pyfile("raptor.cfg")
            app.config["WEBAUTHN_ORIGIN"] = os.environ["WEBAUTHN_ORIGIN"]

            @app.before_request
            def reload():
                app.config.from_pyfile("raptor.cfg")

            def pin():
                app.config["WEBAUTHN_RP_ID"] = os.environ["WEBAUTHN_RP_ID"]

            pin()
            app.config.from_object("raptor.settings")
            app.config["WEBAUTHN_ORIGIN"] = os.environ["WEBAUTHN_ORIGIN"]
            return app
        """) == []


def test_the_callers_own_overrides_are_not_an_instance_config() -> None:
    assert _lines("""\
        import os
        from flask import Flask

        def create_app(test_config=None):
            app = Flask(__name__, instance_relative_config=True)
            app.config["DATABASE_URL"] = os.environ["DATABASE_URL"]
            if test_config is not None:
                app.config.from_mapping(test_config)
            return app
        """) == []


def test_the_app_a_flask_subclass_and_a_config_alias() -> None:
    assert _lines("""\
        import os
        import flask

        class RaptorApp(flask.Flask):
            pass

        def create_app():
            app = RaptorApp(__name__)
            settings = app.config
            settings["WEBAUTHN_ORIGIN"] = os.environ["WEBAUTHN_ORIGIN"]
            app.config.from_pyfile("raptor.cfg")
            registry = {}
            registry["WEBAUTHN_RP_ID"] = os.environ["WEBAUTHN_RP_ID"]
            registry.update(read())
            return app
        """) == [10]


def test_a_configured_app_factory(tmp_path: Path) -> None:
    source = """\
        import os
        from flask import Flask

        def make_app():
            app = Flask(__name__)
            app.config["WEBAUTHN_ORIGIN"] = os.environ["WEBAUTHN_ORIGIN"]
            app.config.from_pyfile("raptor.cfg")
            return app

        def create_app():
            app = Flask(__name__)
            app.config["WEBAUTHN_ORIGIN"] = os.environ["WEBAUTHN_ORIGIN"]
            app.config.from_pyfile("raptor.cfg")
            return app
        """
    assert _lines(source) == [12]
    assert _lines(source, Engine(Config(root=tmp_path, app_factory=("make_app",)))) == [6]


def test_the_pre_filter_lets_every_finding_through() -> None:
    checker = AppConfigChecker()
    assert checker.prefilter(RULES[0].bad)
    assert checker.prefilter("from os import getenv\nc.update(K=getenv('K'))\n")
    assert not checker.prefilter("import os\napp.config['K'] = os.environ['K']\n")  # no loader
    assert not checker.prefilter("app.config.from_pyfile('x.cfg')\n")  # no environment read
