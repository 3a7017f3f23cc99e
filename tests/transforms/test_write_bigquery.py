"""The BigQuery sink through Beam's WriteToBigQuery (FILE_LOADS via gs://) against real emulators."""
from __future__ import annotations

import dataclasses
import datetime
import os
import subprocess
import sys

import apache_beam as beam
import numpy as np
import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline

from pipeline.sinks import write_rows
from transforms.bigquery_table import STAGING_INFIX, TableSpec, parse_table
from transforms.records import BottleResult, Failure, ImageInfo, ScanContext
from transforms.rows import failure_row, summary_row
from transforms.schema import FAILURE_FIELDS, SUMMARY_FIELDS, bigquery_schema
from transforms.write_bigquery import (
    CLUSTER_FIELDS,
    FAILURES_SUFFIX,
    Swap,
    add_columns_sql,
    commit_script,
    json_value,
    table_options,
)

T0 = datetime.datetime(2026, 3, 4, 23, 59, 58, 123456, tzinfo=datetime.timezone.utc)


def scan_rows(scan_id: str, at: datetime.datetime) -> dict[str, list[dict]]:
    """Three images (two bottles, none, one) and one failure, as the Summarize stage makes them."""
    ctx = ScanContext(scan_id, "det@1", "cls@1", "seg@1")
    target = BottleResult(0, (10.0, 20.0, 50.0, 120.0), 0.9, 0.8, True, "target", 0.8, 3000.0, 2500.0, 2500.0,
                          "mask")
    other = BottleResult(1, (60.0, 20.0, 90.0, 110.0), 0.7, 0.1, False, "other", 0.1, 2100.0)
    lone = BottleResult(0, (0.0, 0.0, 8.0, 30.0), np.float32(0.5), 0.95, True, "target", 0.95, 200.0, None, 200.0,
                        "expected")
    summaries = [
        summary_row(ImageInfo("gs://b/shelf/a.jpg", 640, 480, 2), [other, target], ctx, at),
        summary_row(ImageInfo("gs://b/shelf/b.jpg", 320, 240, 0), [], ctx, at + datetime.timedelta(seconds=1)),
        summary_row(ImageInfo("gs://b/shelf/c.jpg", 100, 50, 1), [lone], ctx, at + datetime.timedelta(seconds=3)),
    ]
    failures = [failure_row(Failure("gs://b/shelf/bad.jpg", "decode", "truncated", "cut short"), scan_id, at)]
    return {"summaries": summaries, "failures": failures}


def write(rows: dict[str, list[dict]], output: str, scan_id: str, emulator, *flags: str) -> None:
    options = PipelineOptions([f"--project={emulator.project}", f"--temp_location={emulator.temp_location}",
                               *flags])
    with TestPipeline(options=options) as p:
        write_rows({name: p | f"Create{name}" >> beam.Create(r, reshuffle=False) for name, r in rows.items()},
                   output, scan_id)


def parquet_rows(directory: str) -> list[dict]:
    """A scan folder's rows as Hive-partitioned readers give them: scan_id from the folder's name."""
    table, scan_id = directory.rstrip("/").rsplit("/scan_id=", 1)
    rows = pq.read_table(table, filters=[("scan_id", "=", scan_id)]).to_pylist()
    return sorted(({**r, "scan_id": str(r["scan_id"])} for r in rows), key=lambda r: r["image_uri"])


def test_parse_table():
    assert parse_table("bq://my-proj.ds.t") == TableSpec("my-proj", "ds", "t")
    assert parse_table("my-proj:ds.t") == TableSpec("my-proj", "ds", "t")
    assert parse_table("my-proj:ds.t").suffixed(FAILURES_SUFFIX).beam == "my-proj:ds.t_failures"
    with pytest.raises(ValueError, match="bq://PROJECT.DATASET.TABLE"):
        parse_table("bq://ds.t")


def test_json_value_makes_load_file_values():
    row = {"n": np.int64(3), "x": [np.float32(0.5)], "at": T0, "d": [{"s": np.bool_(True)}]}
    assert json_value(row) == {"n": 3, "x": [0.5], "at": "2026-03-04 23:59:58.123456 UTC", "d": [{"s": True}]}
    # a naive time is civil time (DATETIME: the camera's clock in captured_at), never shifted to UTC
    assert json_value(datetime.datetime(2026, 1, 1, 9, 30)) == "2026-01-01 09:30:00.000000"


def test_table_options_partition_by_scan_time():
    for fields in (SUMMARY_FIELDS, FAILURE_FIELDS):
        assert table_options(fields) == {"timePartitioning": {"type": "DAY", "field": "processed_at"},
                                         "clustering": {"fields": list(CLUSTER_FIELDS)}}


@pytest.mark.slow  # starts a process or builds many scenes
def test_sitecustomize_points_new_processes_at_the_emulator(bq_emulator):
    code = ("from apache_beam.io.gcp.internal.clients.bigquery import BigqueryV2; print(BigqueryV2.BASE_URL)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ)
    assert out.stdout.strip() == f"{bq_emulator.endpoint}/bigquery/v2/"


@pytest.mark.slow
def test_rows_equal_parquet_and_rerun_replaces(bq_emulator, tmp_path):
    rows = scan_rows("scan-1", T0)
    write(rows, str(tmp_path), "scan-1", bq_emulator)
    write(rows, bq_emulator.output("summary"), "scan-1", bq_emulator)

    expected = parquet_rows(str(tmp_path / "summaries" / "scan_id=scan-1"))
    assert [r["bottles"] for r in expected] == [2, 0, 1]
    assert bq_emulator.rows("summary") == expected
    assert bq_emulator.rows("summary_failures") == parquet_rows(str(tmp_path / "failures" / "scan_id=scan-1"))

    # The same scan again a day later, so in other partitions: replaced, not doubled, none left behind.
    later = T0 + datetime.timedelta(days=1)
    write(scan_rows("scan-1", later), bq_emulator.output("summary"), "scan-1", bq_emulator)
    again = bq_emulator.rows("summary")
    assert len(again) == 3 and min(r["processed_at"] for r in again) == later
    assert len(bq_emulator.rows("summary_failures")) == 1

    write(scan_rows("scan-2", later), bq_emulator.output("summary"), "scan-2", bq_emulator)
    both = bq_emulator.rows("summary", order_by="scan_id, image_uri")
    assert [r["scan_id"] for r in both] == ["scan-1"] * 3 + ["scan-2"] * 3
    assert len(bq_emulator.rows("summary_failures")) == 2


@pytest.mark.slow
def test_tables_are_partitioned_and_clustered(bq_emulator):
    write({"summaries": scan_rows("scan-p", T0)["summaries"], "failures": []},
          bq_emulator.output("parted"), "scan-p", bq_emulator)
    client = bq_emulator.client()
    for name in ("parted", "parted_failures"):  # no failures in this scan: the table exists all the same
        table = client.get_table(f"{bq_emulator.project}.{bq_emulator.dataset}.{name}")
        assert (table.time_partitioning.type_, table.time_partitioning.field) == ("DAY", "processed_at")
        assert table.clustering_fields == list(CLUSTER_FIELDS)
        detections = {f.name: f for f in table.schema}.get("detections")
        if name == "parted":
            assert (detections.field_type, detections.mode) == ("RECORD", "REPEATED")
    assert len(bq_emulator.rows("parted")) == 3
    assert bq_emulator.rows("parted_failures") == []


@pytest.mark.slow
def test_multi_process_workers_reach_the_emulator(bq_emulator):
    write(scan_rows("scan-mp", T0), bq_emulator.output("multi"), "scan-mp", bq_emulator,
          "--direct_running_mode=multi_processing", "--direct_num_workers=2")
    assert [r["image_uri"] for r in bq_emulator.rows("multi")] == [
        "gs://b/shelf/a.jpg", "gs://b/shelf/b.jpg", "gs://b/shelf/c.jpg"]


def test_hyphenated_table_names_are_bigquery_not_parquet():
    from transforms.bigquery_table import looks_like_bigquery

    assert parse_table("my-proj:ds.shelf-scans") == TableSpec("my-proj", "ds", "shelf-scans")
    assert parse_table("bq://my-proj.ds.shelf-scans") == TableSpec("my-proj", "ds", "shelf-scans")
    assert looks_like_bigquery("my-proj:ds.shelf-scans") and looks_like_bigquery("bq://p.d-x.t")
    with pytest.raises(ValueError, match="not a BigQuery table"):
        parse_table("bq://p.d-x.t")  # dataset names take no dashes
    assert not looks_like_bigquery("gs://b/out") and not looks_like_bigquery("out/scans")


def test_swap_is_one_transaction_with_a_safe_literal():
    spec, failures = TableSpec("p", "d", "t"), TableSpec("p", "d", "t_failures")
    script = commit_script("s-1", [Swap(spec, spec.staged("s-1", "run1"), SUMMARY_FIELDS),
                                   Swap(failures, failures.staged("s-1", "run1"), FAILURE_FIELDS)])
    assert script.startswith("BEGIN TRANSACTION;") and script.endswith("COMMIT TRANSACTION;")
    assert script.count("BEGIN") == 1 and script.count("COMMIT") == 1, "both tables in one transaction"
    assert "DELETE FROM `p.d.t` WHERE scan_id = 's-1'" in script
    assert "DELETE FROM `p.d.t_failures` WHERE scan_id = 's-1'" in script
    with pytest.raises(ValueError, match="safe name"):
        commit_script("x'; DROP TABLE t; --", [Swap(spec, spec, SUMMARY_FIELDS)])


class _Killed(RuntimeError):
    pass


def _explode(row):
    if row["image_uri"].endswith("c.jpg"):
        raise _Killed("killed midway")
    return row


@pytest.mark.slow
def test_a_killed_rerun_leaves_the_rows_and_the_next_run_clears_its_staging(bq_emulator):
    output = bq_emulator.output("killed")
    write(scan_rows("scan-k", T0), output, "scan-k", bq_emulator)
    before = bq_emulator.rows("killed")

    options = PipelineOptions([f"--project={bq_emulator.project}", f"--temp_location={bq_emulator.temp_location}"])
    later = scan_rows("scan-k", T0 + datetime.timedelta(days=1))
    with pytest.raises(Exception, match="killed midway"):
        with TestPipeline(options=options) as p:
            summaries = p | "S" >> beam.Create(later["summaries"], reshuffle=False) | beam.Map(_explode)
            write_rows({"summaries": summaries, "failures": p | "F" >> beam.Create(later["failures"])},
                       output, "scan-k")
    assert bq_emulator.rows("killed") == before, "the earlier rows are whole after a failed re-run"

    write(later, output, "scan-k", bq_emulator)
    assert min(r["processed_at"] for r in bq_emulator.rows("killed")) == later["summaries"][0]["processed_at"]
    assert len(bq_emulator.rows("killed")) == 3
    tables = [t.table_id for t in bq_emulator.client().list_tables(f"{bq_emulator.project}.{bq_emulator.dataset}")]
    assert not [t for t in tables if t.startswith("killed") and STAGING_INFIX in t], tables


def _create_with_rows(client, spec: TableSpec, uris: list[str], scan_id: str) -> None:
    client.query(f"CREATE TABLE {spec.sql} (image_uri STRING, scan_id STRING)").result()
    values = ", ".join(f"('{u}', '{scan_id}')" for u in uris)
    client.query(f"INSERT INTO {spec.sql} (image_uri, scan_id) VALUES {values}").result()


def _uris(client, spec: TableSpec) -> list[str]:
    return sorted(r["image_uri"] for r in client.query(f"SELECT image_uri FROM {spec.sql}").result())


@pytest.mark.slow
def test_both_tables_swap_in_one_transaction_or_not_at_all(bq_emulator):
    client = bq_emulator.client()
    summaries = TableSpec(bq_emulator.project, bq_emulator.dataset, "tx")
    failures = summaries.suffixed(FAILURES_SUFFIX)
    columns = tuple(f for f in SUMMARY_FIELDS if f.name in ("image_uri", "scan_id"))
    _create_with_rows(client, summaries, ["old-s"], "s")
    _create_with_rows(client, failures, ["old-f"], "s")
    _create_with_rows(client, summaries.staged("s", "r1"), ["new-s"], "s")
    # The failures' staging table is missing, so the script fails after the summaries' swap ran.
    script = commit_script("s", [Swap(summaries, summaries.staged("s", "r1"), columns),
                                 Swap(failures, failures.staged("s", "r1"), columns)])
    from google.api_core.exceptions import GoogleAPICallError

    with pytest.raises(GoogleAPICallError):
        client.query(script).result()
    assert (_uris(client, summaries), _uris(client, failures)) == (["old-s"], ["old-f"]), "rolled back, both"

    _create_with_rows(client, failures.staged("s", "r1"), ["new-f"], "s")
    client.query(script).result()
    assert (_uris(client, summaries), _uris(client, failures)) == (["new-s"], ["new-f"])


def _without_products(fields):
    """The schema as shelfscan wrote it before products: no `products`, detections without product fields."""
    old = []
    for f in fields:
        if f.name == "products":
            continue
        if f.name == "detections":
            f = dataclasses.replace(f, fields=tuple(s for s in f.fields if not s.name.startswith("product")))
        old.append(f)
    return tuple(old)


def test_new_top_level_columns_are_added_by_ddl():
    products = next(f for f in SUMMARY_FIELDS if f.name == "products")
    sql = add_columns_sql(TableSpec("p", "d", "t"), [products])
    assert sql == ("ALTER TABLE `p.d.t` ADD COLUMN IF NOT EXISTS `products` "
                   "ARRAY<STRUCT<product STRING, bottles INT64, area_px FLOAT64, area_ratio FLOAT64, "
                   "shelf_share_count FLOAT64, shelf_share_area FLOAT64>>")


@pytest.mark.slow
def test_a_table_from_before_products_gains_the_columns_and_keeps_its_rows(bq_emulator):
    """The new top-level column arrives by DDL, which the emulator applies; the new fields inside `detections`
    by a schema patch, which real BigQuery applies to the table and the emulator only to its catalog (so its
    rows do not show them)."""
    from google.cloud import bigquery

    client = bq_emulator.client()
    spec = TableSpec(bq_emulator.project, bq_emulator.dataset, "grown")
    old_fields = _without_products(SUMMARY_FIELDS)
    client.create_table(bigquery.Table.from_api_repr(
        {"tableReference": {"projectId": spec.project, "datasetId": spec.dataset, "tableId": spec.table},
         "schema": bigquery_schema(old_fields), **table_options(old_fields)}))
    client.query(f"""INSERT INTO {spec.sql} (image_uri, scan_id, processed_at, width, height, bottles, target_bottles,
        target_area_px, target_area_ratio, detector_version, classifier_version, segmenter_version)
        VALUES ('gs://b/last_month.jpg', 'november', TIMESTAMP '2026-11-02 10:00:00 UTC', 640, 480, 3, 1, 900.0,
                0.003, 'd', 'c', 's')""").result()

    write(scan_rows("december", T0), bq_emulator.output("grown"), "december", bq_emulator)

    schema = {f.name: f for f in client.get_table(spec.api).schema}
    assert "products" in schema and "products" not in [f.name for f in old_fields]
    assert [f.name for f in schema["detections"].fields][-2:] == ["product", "product_score"]
    rows = {r["image_uri"]: r for r in bq_emulator.rows("grown")}
    assert rows["gs://b/last_month.jpg"]["scan_id"] == "november" and not rows["gs://b/last_month.jpg"]["products"]
    new = rows["gs://b/shelf/a.jpg"]
    assert [(p["product"], p["bottles"]) for p in new["products"]] == [("target", 1)]
    assert len(new["detections"]) == 2
