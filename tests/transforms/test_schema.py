"""The schema is defined once; Parquet, BigQuery and docs/SCHEMA.md all derive from it."""
from pathlib import Path

import pyarrow as pa

from transforms.schema import FAILURE_FIELDS, SUMMARY_FIELDS, arrow_schema, bigquery_schema, markdown_table

SCHEMA_DOC = Path(__file__).resolve().parents[2] / "docs" / "SCHEMA.md"


def test_the_schema_doc_is_generated_from_the_schema():
    text = SCHEMA_DOC.read_text()
    assert markdown_table(SUMMARY_FIELDS) in text
    assert markdown_table(FAILURE_FIELDS) in text


def test_detections_are_a_repeated_record_in_both_sinks():
    bq = {f["name"]: f for f in bigquery_schema(SUMMARY_FIELDS)["fields"]}
    assert bq["detections"]["type"] == "RECORD" and bq["detections"]["mode"] == "REPEATED"
    assert {f["name"] for f in bq["detections"]["fields"]} >= {"box", "area_px", "area_source"}
    arrow = arrow_schema(SUMMARY_FIELDS)
    assert pa.types.is_list(arrow.field("detections").type)
    assert pa.types.is_struct(arrow.field("detections").type.value_type)


def test_same_columns_in_both_sinks():
    for fields in (SUMMARY_FIELDS, FAILURE_FIELDS):
        assert arrow_schema(fields).names == [f["name"] for f in bigquery_schema(fields)["fields"]]
