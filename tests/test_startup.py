"""What a process that imports the app (every gunicorn and RQ worker, every `flask` command, and
the hundreds the suite starts) does not pay for at start-up.

Starting the app cost 3.8 s of CPU on the 2-core CI machine; about a third of it went to work a
web process may never need: boto3 with local storage, openpyxl before any export, Flask-Migrate
(with alembic) outside `flask db`, a password hash, every API model's JSON schema before anybody
asks for /api/v1/openapi.json, and the cyclic collector walking the objects the import was
making. Each test fails when that comes back.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.multinode.cluster import flask_cli, venv_run

ROOT = Path(__file__).resolve().parents[1]

_PROBE = """
import gc, json, sys
import wsgi
from portal.accounts import services
from portal.routes.api.declare import spec

print(json.dumps({
    "loaded": sorted(
        m for m in ("boto3", "openpyxl", "weasyprint", "flask_migrate", "alembic")
        if m in sys.modules
    ),
    "schemas made": len(spec._schemas),
    "models noted": len({spec.naming_strategy(model) for model, _mode in spec._noted}),
    "dummy hash made": services._dummy_hash.cache_info().currsize,
    "collector on": gc.isenabled(),
    "frozen": gc.get_freeze_count(),
}))
with wsgi.app.test_client() as client:
    document = client.get("/api/v1/openapi.json").get_json()
print(json.dumps({
    "schemas made": len(spec._schemas),
    "models noted": len(spec._noted),
    "documented": len(document["components"]["schemas"]),
}))
"""


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": str(Path(sys.executable).parent),
        "PORTAL_INSTANCE_PATH": str(tmp_path / "instance"),
        "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
        "PORTAL_STORAGE": "local",
        "PORTAL_STORAGE_PATH": str(tmp_path / "storage"),
        "PORTAL_SECRET_KEY": "startup-test-secret-key",
    }


def test_importing_the_app_leaves_what_it_may_never_need_undone(tmp_path: Path):
    printed = venv_run(_env(tmp_path), "python", "-c", _PROBE)
    started, served = (json.loads(line) for line in printed.strip().splitlines()[-2:])

    assert started["loaded"] == [], "imported at start-up though nothing used it yet"
    assert started["dummy hash made"] == 0
    assert started["schemas made"] == 0 and started["models noted"] > 50
    assert started["collector on"] is True, "wsgi must turn the collector back on"
    assert started["frozen"] > 100_000, "what the import built is frozen"

    # The first read of the document makes the schema of every model noted, and the document
    # has them all (with the models they nest).
    assert served["models noted"] == 0
    assert served["schemas made"] == started["models noted"]
    assert served["documented"] >= served["schemas made"]


def test_flask_db_loads_flask_migrate_when_it_runs(tmp_path: Path):
    """`flask db` is listed with the other commands, and each of its subcommands is
    Flask-Migrate's own once it runs (portal.schema_migrations)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    env = _env(tmp_path)
    assert "Perform database migrations." in flask_cli(env, "--help")
    assert "upgrade" in flask_cli(env, "db", "--help")
    flask_cli(env, "db", "upgrade")
    config = Config(str(ROOT / "migrations" / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head and head in flask_cli(env, "db", "current")
