"""Tables of computed indicators: the aggregate the dashboards read, and frozen releases.

`indicator_cell` holds every indicator as a full cube per period slice: one row per
combination of dimension codes, margins included (TOTAL "_T" for "all values"), so that a
dashboard query is a lookup, never an aggregation over microdata. The dimension columns are
positional (dim1..dim6, in the order the indicator's YAML lists its dimensions); `grouping`
is the bit mask of the dimensions that are not TOTAL, which is what a query knows first.

`release` and `release_cell` freeze what the ONM publishes: cells are copied once, when the
draft is made, and never written again.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, Column, Float, Index, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from services.models import utcnow

MAX_DIMENSIONS = 6
DIMENSION_COLUMNS = tuple(f"dim{i}" for i in range(1, MAX_DIMENSIONS + 1))


def _dim():
    return Field(default=None, sa_type=String(64), nullable=True)


class IndicatorCell(SQLModel, table=True):
    __tablename__ = "indicator_cell"
    __table_args__ = (
        Index("ix_indicator_cell_lookup", "indicator", "grouping", "year", "month"),
        Index("ix_indicator_cell_slice", "indicator", "year", "month"),
    )
    id: int | None = Field(default=None, sa_column=Column(BigInteger().with_variant(Integer, "sqlite"),
                                                          primary_key=True, autoincrement=True))
    indicator: str = Field(max_length=64)
    year: int
    month: int = Field(sa_type=SmallInteger)  # 0: the whole year (a flow's year, a stock's 31 December)
    grouping: int
    dim1: str | None = _dim()
    dim2: str | None = _dim()
    dim3: str | None = _dim()
    dim4: str | None = _dim()
    dim5: str | None = _dim()
    dim6: str | None = _dim()
    value: float | None = Field(default=None, sa_type=Float)
    # Persons or events behind the value: equal to it for counts, the numerator for rates.
    observations: int | None = Field(default=None, sa_type=BigInteger)


class IndicatorSlice(SQLModel, table=True):
    """One computed (indicator, period): when, and how many cells; what `marsad indicators list` shows."""

    __tablename__ = "indicator_slice"
    indicator: str = Field(primary_key=True, max_length=64)
    year: int = Field(primary_key=True)
    month: int = Field(primary_key=True, sa_type=SmallInteger)
    cells: int = 0
    computed_at: dt.datetime = Field(default_factory=utcnow)


class Release(SQLModel, table=True):
    __tablename__ = "release"
    __table_args__ = (UniqueConstraint("indicator", "version", name="uq_release_indicator_version"),)
    id: int | None = Field(default=None, primary_key=True)
    indicator: str = Field(index=True, max_length=64)
    version: int
    status: str = Field(default="draft", sa_type=String(16))  # draft -> approved -> published
    scope: dict = Field(default_factory=dict, sa_column=Column(JSON))
    note: str | None = Field(default=None, sa_column=Column(Text))
    release_date: dt.date | None = None  # published: readers without indicator.publish see it from this day
    cells: int = 0
    created_by: str = Field(max_length=128)
    created_at: dt.datetime = Field(default_factory=utcnow)
    approved_by: str | None = Field(default=None, max_length=128)
    approved_at: dt.datetime | None = None
    published_by: str | None = Field(default=None, max_length=128)
    published_at: dt.datetime | None = None


class ReleaseCell(SQLModel, table=True):
    __tablename__ = "release_cell"
    __table_args__ = (Index("ix_release_cell_lookup", "release_id", "grouping", "year", "month"),)
    id: int | None = Field(default=None, sa_column=Column(BigInteger().with_variant(Integer, "sqlite"),
                                                          primary_key=True, autoincrement=True))
    release_id: int = Field(foreign_key="release.id")
    year: int
    month: int = Field(sa_type=SmallInteger)
    grouping: int
    dim1: str | None = _dim()
    dim2: str | None = _dim()
    dim3: str | None = _dim()
    dim4: str | None = _dim()
    dim5: str | None = _dim()
    dim6: str | None = _dim()
    value: float | None = Field(default=None, sa_type=Float)
    observations: int | None = Field(default=None, sa_type=BigInteger)
