import sqlalchemy
from sqlalchemy import Column, MetaData, String, Table

from workbench.db import add_missing_columns, engine_for
from workbench.models import Base


def test_older_database_gets_new_columns_and_keeps_its_rows(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = sqlalchemy.create_engine(url)
    meta = MetaData()
    Table("releases", meta, Column("id", sqlalchemy.Integer, primary_key=True), Column("version", String(16)))
    meta.create_all(old)
    with old.begin() as conn:
        conn.exec_driver_sql("INSERT INTO releases (id, version) VALUES (1, 'v0001')")
    old.dispose()
    engine = engine_for(url)
    columns = {c["name"] for c in sqlalchemy.inspect(engine).get_columns("releases")}
    assert columns == {c.name for c in Base.metadata.tables["releases"].columns}
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version FROM releases").scalar() == "v0001"
    assert add_missing_columns(engine) == []
