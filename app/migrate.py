"""``app-migrate``: the reference app's migration command, run by the kit once per deploy.

The kit runs it with the new release, its environment and its secrets, before traffic moves to
the new release (``app_migrate_command: [app-migrate]``). It exits non-zero, naming the problem,
when the settings or the database are unusable, which stops the deploy with the old release
still serving.
"""

from __future__ import annotations

import sys

from app.database import Database, DatabaseUnavailable
from app.settings import SettingsError, load_settings


def main() -> int:
    try:
        settings = load_settings()
        before, after = Database(settings.database_file).migrate()
    except (SettingsError, DatabaseUnavailable) as error:
        print(f"app-migrate: {error}", file=sys.stderr)
        return 1
    state = "up to date" if before == after else f"migrated from version {before}"
    print(f"app-migrate: release {settings.app_release}: schema {state}, version {after}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
