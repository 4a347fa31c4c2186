"""Alembic environment: always driven programmatically with a live connection (see migrate.py)."""

from alembic import context

# Each package declares its tables on the shared metadata: importing them all completes it for
# autogenerate, which compares it with the database. nib itself never imports this script, so
# it may reach above the data layer.
import nib.account.tables  # noqa: F401
import nib.auth.tables  # noqa: F401
import nib.storage.tables  # noqa: F401
import nib.teams.tables  # noqa: F401
from nib.data.db.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
