"""The output schema, defined once: Parquet, BigQuery, the evaluator and the README derive from it."""
from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class Field:
    """One column, in BigQuery terms (type and mode), with a description users read."""

    name: str
    type: str  # STRING, INTEGER, FLOAT, BOOLEAN, TIMESTAMP, DATETIME, RECORD
    mode: str = "REQUIRED"  # REQUIRED, NULLABLE, REPEATED
    description: str = ""
    fields: tuple["Field", ...] = ()


DETECTION_FIELDS = (
    Field("index", "INTEGER", description="Detection index within the image, by descending detection score."),
    Field("box", "FLOAT", "REPEATED", "Box [x0, y0, x1, y1] in original (EXIF-upright) image pixels."),
    Field("detection_score", "FLOAT", description="Detector confidence that this is a bottle."),
    Field("target_score", "FLOAT", description="The classifier's highest product probability for this bottle."),
    Field("is_target", "BOOLEAN", description="The bottle is one of the classifier's products (product is not "
          "'other')."),
    Field("mask_area_px", "FLOAT", "NULLABLE", "Segmented pixels mapped to original pixels; products only."),
    Field("expected_area_px", "FLOAT", description="Area an upright bottle in this box would cover."),
    Field("area_px", "FLOAT", "NULLABLE", "The area used: mask or expected (see area_source); products only."),
    Field("area_source", "STRING", "NULLABLE", "'mask', or 'expected' when the mask was implausible."),
    Field("mask_polygon", "FLOAT", "REPEATED", "Outline of the mask [x0, y0, x1, y1, ...] in original image "
          "pixels, at most 48 points; products only (empty otherwise)."),
    # Fields added later go last: BigQuery appends them to an existing table's record, and INSERT matches a
    # record's fields by position.
    Field("product", "STRING", description="The product with the highest score among those at or above their "
          "thresholds, else 'other'. A single-product classifier's product is named 'target' unless it says."),
    Field("product_score", "FLOAT", description="The classifier's probability for that product (for 'other': its "
          "highest product probability)."),
)

PRODUCT_FIELDS = (
    Field("product", "STRING", description="A product the classifier knows ('other' has no entry)."),
    Field("bottles", "INTEGER", description="Bottles classified as this product."),
    Field("area_px", "FLOAT", description="Sum of area_px over its bottles."),
    Field("area_ratio", "FLOAT", description="area_px / (width * height)."),
    Field("shelf_share_count", "FLOAT", description="Its bottles / all bottles in the photo (0 with no bottles)."),
    Field("shelf_share_area", "FLOAT", description="Its area_px / all bottles' area, where a bottle of no product "
          "counts its expected_area_px (0 with no bottles). Over many photos, sum areas, then divide."),
)

SUMMARY_FIELDS = (
    Field("image_uri", "STRING", description="The input image."),
    Field("scan_id", "STRING", description="The scan that produced this row (Parquet: the scan_id=... folder, "
          "which pandas, DuckDB and Spark read as this column)."),
    Field("processed_at", "TIMESTAMP", description="When this row was computed (UTC)."),
    Field("width", "INTEGER", description="Image width after EXIF orientation."),
    Field("height", "INTEGER", description="Image height after EXIF orientation."),
    Field("captured_at", "DATETIME", "NULLABLE", "When the photo was taken (EXIF DateTimeOriginal), on the "
          "camera's clock without a time zone; null when the photo does not say."),
    Field("folder", "STRING", "NULLABLE", "The image's folder below the --input root it was found under "
          "('' directly in it, e.g. 'store12/2026-11'); null for images named by --input_list only."),
    Field("bottles", "INTEGER", description="Bottles detected, any brand."),
    Field("target_bottles", "INTEGER", description="Detected bottles classified as any product (the sum of "
          "products.bottles)."),
    Field("target_area_px", "FLOAT", description="Sum of area_px over those bottles."),
    Field("target_area_ratio", "FLOAT", description="target_area_px / (width * height)."),
    Field("products", "RECORD", "REPEATED", "One entry per product the classifier knows, in its order, zeros "
          "included. Rows written before products existed lack it (read old and new files together with "
          "DuckDB's union_by_name, or transforms.schema.arrow_schema).",
          PRODUCT_FIELDS),
    Field("detections", "RECORD", "REPEATED", "Every detected bottle.", DETECTION_FIELDS),
    Field("detector_version", "STRING", description="Content hash or handle of the detector model."),
    Field("classifier_version", "STRING", description="Content hash or handle of the classifier model."),
    Field("segmenter_version", "STRING", description="Content hash or handle of the segmenter model."),
)

FAILURE_FIELDS = (
    Field("image_uri", "STRING", description="The input that failed."),
    Field("scan_id", "STRING", description="The scan that saw the failure (Parquet: the scan_id=... folder)."),
    Field("processed_at", "TIMESTAMP", description="When the failure was recorded (UTC)."),
    Field("stage", "STRING", description="read, decode, detect, classify or segment."),
    Field("error_type", "STRING", description="Short machine-readable cause, e.g. 'truncated', 'not_an_image'."),
    Field("message", "STRING", description="What went wrong and what to do about it."),
)


PARTITION = "scan_id"  # Parquet keeps it in the path only (scan_id=...), as Hive and Spark write partitions


def parquet_fields(fields: tuple[Field, ...]) -> tuple[Field, ...]:
    """The columns a Parquet file holds: all but the partition column, which its folder names. A column
    in both places is what makes pandas, pyarrow and DuckDB refuse to read a whole output."""
    return tuple(f for f in fields if f.name != PARTITION)


def arrow_schema(fields: tuple[Field, ...]):
    """The pyarrow schema for these fields."""
    import pyarrow as pa

    return pa.schema([_arrow_field(f) for f in fields])


def _arrow_type(f: Field):
    import pyarrow as pa

    scalar = {
        "STRING": pa.string(),
        "INTEGER": pa.int64(),
        "FLOAT": pa.float64(),
        "BOOLEAN": pa.bool_(),
        "TIMESTAMP": pa.timestamp("us", tz="UTC"),
        "DATETIME": pa.timestamp("us"),  # civil time, as BigQuery's DATETIME and pandas' naive datetime64
    }
    if f.type == "RECORD":
        return pa.struct([_arrow_field(sub) for sub in f.fields])
    return scalar[f.type]


def _arrow_field(f: Field):
    import pyarrow as pa

    if f.mode == "REPEATED":
        item = pa.field("item", _arrow_type(f), nullable=False)
        return pa.field(f.name, pa.list_(item), nullable=False)
    return pa.field(f.name, _arrow_type(f), nullable=f.mode == "NULLABLE")


def read_schema(fields: tuple[Field, ...]):
    """The pyarrow schema to read a whole Parquet output with, the scan_id partition included: it reads files
    written before a column existed beside newer ones (the column is null there), where inferring the schema
    from the files fails. `pd.read_parquet("out/summaries", schema=read_schema(SUMMARY_FIELDS))`."""
    import pyarrow as pa

    return arrow_schema(parquet_fields(fields)).append(pa.field(PARTITION, pa.string()))


def bigquery_schema(fields: tuple[Field, ...]) -> dict[str, Any]:
    """The schema as the JSON dict Beam's WriteToBigQuery and the BigQuery API take."""
    return {"fields": [_bq_field(f) for f in fields]}


def _bq_field(f: Field) -> dict[str, Any]:
    out: dict[str, Any] = {"name": f.name, "type": f.type, "mode": f.mode, "description": f.description}
    if f.fields:
        out["fields"] = [_bq_field(sub) for sub in f.fields]
    return out


def markdown_table(fields: tuple[Field, ...], prefix: str = "") -> str:
    """A README table of the fields, nested records flattened as `parent.child`."""
    lines = [] if prefix else ["| column | type | mode | meaning |", "| --- | --- | --- | --- |"]
    for f in fields:
        lines.append(f"| `{prefix}{f.name}` | {f.type} | {f.mode} | {f.description} |")
        if f.fields:
            lines.append(markdown_table(f.fields, prefix=f"{prefix}{f.name}."))
    return "\n".join(lines)


if __name__ == "__main__":
    print("Summaries:\n")
    print(markdown_table(SUMMARY_FIELDS))
    print("\nFailures:\n")
    print(markdown_table(FAILURE_FIELDS))
