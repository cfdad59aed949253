"""Dagster metadata from the results table (`agentdistill.results`): a table and markdown.

from agentdistill.results import benchmark_frame
from dagster_project.defs.metadata import results_md_metadata, results_table_metadata

frame = benchmark_frame([result])
metadata = {"results": results_table_metadata(frame), "metrics": results_md_metadata(frame)}
"""

import dagster as dg
import pandas as pd

from agentdistill.results import compact_markdown, describe, records


def _column_type(dtype: object) -> str:
    # Dagster's UI knows these names; everything non-numeric here is text.
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    return "string"


def results_table_metadata(frame: pd.DataFrame) -> dg.TableMetadataValue:
    """The whole results table as Dagster table metadata (missing values become None)."""
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=str(column),
                type=_column_type(frame[column].dtype),
                description=describe(str(column)),
            )
            for column in frame.columns
        ]
    )
    return dg.MetadataValue.table(
        records=[dg.TableRecord(record) for record in records(frame)], schema=schema
    )


def results_md_metadata(frame: pd.DataFrame) -> dg.MarkdownMetadataValue:
    """A compact markdown table of the frame's models (success with CI, steps, CoT, invalid)."""
    return dg.MetadataValue.md(compact_markdown(frame))
