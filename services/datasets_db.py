"""Dataset tables compiled from the catalog: one table `ds_<dataset>` per dataset.

Each row carries its provenance (institution, submission, source row). The catalog may
grow: a new dataset gets a new table and a new field a new nullable column. Changing a
field's type is refused here and needs a reviewed Alembic migration.
"""
from __future__ import annotations

from sqlalchemy import (BigInteger, Boolean, Column, Date, Integer, MetaData, Numeric, String, Table, Text,
                        inspect, text)
from sqlalchemy.engine import Engine

from services.catalog import Catalog, Dataset

PROVENANCE = ("row_id", "submission_id", "institution", "source_row")


def table_name(dataset_code: str) -> str:
    return f"ds_{dataset_code}"


def _column_type(field):
    if field.type == "string":
        return String(field.max_length) if field.max_length else Text()
    return {
        "integer": BigInteger(),
        "decimal": Numeric(18, 4),
        "date": Date(),
        "code": String(64),
        "boolean": Boolean(),
    }[field.type]


def dataset_table(dataset: Dataset, metadata: MetaData | None = None) -> Table:
    metadata = metadata if metadata is not None else MetaData()
    name = table_name(dataset.code)
    if name in metadata.tables:
        return metadata.tables[name]
    return Table(
        name, metadata,
        Column("row_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("submission_id", Integer, nullable=False, index=True),
        Column("institution", String(32), nullable=False),
        Column("source_row", Integer, nullable=False),
        *(Column(f.name, _column_type(f), nullable=True) for f in dataset.fields),
    )


def ensure_tables(engine: Engine, catalog: Catalog) -> list[str]:
    metadata = MetaData()
    tables = [dataset_table(ds, metadata) for ds in catalog.datasets.values()]
    inspector = inspect(engine)
    existing = set(inspector.get_table_names())
    changes = []
    with engine.begin() as conn:
        for table in tables:
            if table.name not in existing:
                table.create(conn)
                changes.append(f"created table {table.name}")
                continue
            have = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name not in have:
                    ddl = column.type.compile(dialect=engine.dialect)
                    conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {ddl}'))
                    changes.append(f"added column {table.name}.{column.name}")
    return changes
