"""Counting rows: Beam counters (the closing table) and the progress board (the live line) agree."""
import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline

from transforms.progress import FAILURE_NAMESPACE, CountRows, read_board, write_count


def test_board_sums_every_writer_and_skips_half_written_files(tmp_path):
    write_count(str(tmp_path), "summaries-1-a", 3)
    write_count(str(tmp_path), "summaries-2-b", 4)
    write_count(str(tmp_path), "inputs-1-a", 9)
    (tmp_path / "failures-1-a.tmp").write_text("7")
    assert read_board(str(tmp_path)) == {"summaries": 7, "inputs": 9}


def test_counters_and_board_count_each_row_once(tmp_path):
    failures = [{"stage": "decode", "error_type": "truncated"}] * 2 + [{"stage": "read", "error_type": "not_found"}]
    p = TestPipeline()
    inputs = p | "Inputs" >> beam.Create(range(10))
    summaries = p | "Summaries" >> beam.Create([{"n": i} for i in range(7)])
    failed = p | "Failures" >> beam.Create(failures)
    (inputs, summaries, failed) | CountRows(str(tmp_path))
    result = p.run()
    result.wait_until_finish()
    assert read_board(str(tmp_path)) == {"inputs": 10, "summaries": 7, "failures": 3}

    def total(namespace, name=None):
        f = MetricsFilter().with_namespace(namespace)
        found = result.metrics().query(f.with_name(name) if name else f)["counters"]
        return {c.key.metric.name: c.attempted for c in found}

    assert total("shelfscan") == {"inputs_matched": 10, "summaries_written": 7, "failures_written": 3}
    assert total(FAILURE_NAMESPACE) == {"decode/truncated": 2, "read/not_found": 1}
