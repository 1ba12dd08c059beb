"""Open an Odoo environment on a database from the settings scripts/bench.sh exports."""

import os
import sys
from contextlib import contextmanager


def bootstrap():
    sys.path.insert(0, os.environ["PULSE_ODOO_DIR"])
    import odoo

    args = [
        f"--addons-path={os.environ['PULSE_ADDONS_PATH']}",
        f"--db_host={os.environ['PULSE_DB_HOST']}",
        f"--db_port={os.environ['PULSE_DB_PORT']}",
        f"--db_user={os.environ['PULSE_DB_USER']}",
        f"--data-dir={os.environ['PULSE_DATA_DIR']}",
        "--log-level=warn",
    ]
    if os.environ.get("PULSE_DB_PASSWORD"):
        args.append(f"--db_password={os.environ['PULSE_DB_PASSWORD']}")
    odoo.tools.config.parse_config(args)
    return odoo


@contextmanager
def environment(dbname):
    bootstrap()
    from odoo import SUPERUSER_ID, api
    from odoo.modules.registry import Registry

    registry = Registry(dbname)
    with registry.cursor() as cr:
        yield api.Environment(cr, SUPERUSER_ID, {})
