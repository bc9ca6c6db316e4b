"""Alembic's environment for the workbench: the target schema is workbench.models.Base.metadata.

workbench.migrations hands a connection in config.attributes["connection"], already inside the transaction
that holds the migration lock; a bare URL in the "sqlalchemy.url" option also works (own engine, own
transaction). Offline (--sql) mode is not supported."""
from alembic import context
from sqlalchemy import create_engine

from workbench.models import Base


def run_migrations(connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=True,  # SQLite cannot ALTER most things: autogenerate batch blocks
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    if context.is_offline_mode():
        raise SystemExit("workbench migrations run against a database, not as --sql scripts")
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
    try:
        with engine.connect() as connection:
            run_migrations(connection)
    finally:
        engine.dispose()


main()
