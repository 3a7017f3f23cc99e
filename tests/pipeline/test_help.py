"""--help lists our options beside Beam's, with text a user understands."""
import subprocess
import sys
from pathlib import Path


def test_help_lists_scan_and_beam_options():
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "pipeline.run", "--help"], cwd=repo, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    for option in ("--input ", "--output ", "--detector ", "--scan_id ", "--skip_scanned", "--modified_after",
                   "--runner ", "--direct_num_workers", "--dataflow_service_options", "--sdk_container_image"):
        assert option in done.stdout, option
    assert "Glob of images to scan" in done.stdout
