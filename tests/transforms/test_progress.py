"""Counting rows: Beam counters (the closing table) and the progress board (the live line) agree."""
from collections import Counter

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
    detected = p | "Detected" >> beam.Create(range(9))
    summaries = p | "Summaries" >> beam.Create([{"n": i} for i in range(7)])
    failed = p | "Failures" >> beam.Create(failures)
    more_failed = p | "MoreFailures" >> beam.Create([{"stage": "read", "error_type": "not_found"}])
    p | CountRows(str(tmp_path), inputs=(inputs,), detected=(detected,), summaries=(summaries,),
                  failures=(failed, more_failed))
    result = p.run()
    result.wait_until_finish()
    assert read_board(str(tmp_path)) == {"inputs": 10, "detected": 9, "summaries": 7, "failures": 4}

    def total(namespace, name=None):
        f = MetricsFilter().with_namespace(namespace)
        found = result.metrics().query(f.with_name(name) if name else f)["counters"]
        out = Counter()
        for c in found:  # one result per step: a kind counted in two places has two
            out[c.key.metric.name] += c.attempted
        return dict(out)

    assert total("shelfscan") == {"inputs_matched": 10, "images_past_detection": 9, "summaries_written": 7,
                                  "failures_written": 4}
    assert total(FAILURE_NAMESPACE) == {"decode/truncated": 2, "read/not_found": 2}
