"""What names a BigQuery table on --output (bq://PROJECT.DATASET.TABLE or PROJECT:DATASET.TABLE), and the
table's forms: Beam's, SQL's and the client library's, plus this run's staging tables."""
from __future__ import annotations

import dataclasses
import hashlib
import re

STAGING_INFIX = "__staging_"

# Table names may hold dashes (BigQuery allows them); dataset names may not.
_SPEC = re.compile(r"^(?:bq://(?P<p1>[\w.-]+)\.|(?P<p2>[\w.-]+):)(?P<dataset>\w+)\.(?P<table>[\w-]+)$")
_TABLE_LIKE = re.compile(r"^[\w.-]+:[^/\\]")  # PROJECT:... and not a scheme:// or drive path


def looks_like_bigquery(output: str) -> bool:
    """Whether --output means a BigQuery table (bq://..., or PROJECT:...); parse_table says if it is one."""
    return output.startswith("bq://") or ("://" not in output and bool(_TABLE_LIKE.match(output)))


@dataclasses.dataclass(frozen=True)
class TableSpec:
    """One BigQuery table."""

    project: str
    dataset: str
    table: str

    @property
    def beam(self) -> str:
        """Beam's `PROJECT:DATASET.TABLE` form."""
        return f"{self.project}:{self.dataset}.{self.table}"

    @property
    def sql(self) -> str:
        """The GoogleSQL identifier."""
        return f"`{self.project}.{self.dataset}.{self.table}`"

    @property
    def api(self) -> str:
        """The client library's `PROJECT.DATASET.TABLE` form."""
        return f"{self.project}.{self.dataset}.{self.table}"

    def suffixed(self, suffix: str) -> "TableSpec":
        return dataclasses.replace(self, table=self.table + suffix)

    def staging_prefix(self, scan_id: str) -> str:
        """Names of this scan's staging tables start with this (a hash: scan_ids may hold - and .)."""
        return f"{self.table}{STAGING_INFIX}{hashlib.sha256(scan_id.encode()).hexdigest()[:16]}_"

    def staged(self, scan_id: str, run: str) -> "TableSpec":
        return dataclasses.replace(self, table=self.staging_prefix(scan_id) + run)


def parse_table(output: str) -> TableSpec:
    """`bq://PROJECT.DATASET.TABLE` or `PROJECT:DATASET.TABLE` -> TableSpec."""
    m = _SPEC.match(output)
    if not m:
        raise ValueError(
            f"--output {output!r} is not a BigQuery table: write bq://PROJECT.DATASET.TABLE or "
            "PROJECT:DATASET.TABLE (dataset: letters, digits, _; table: also -), or give a directory "
            "for Parquet")
    return TableSpec(m.group("p1") or m.group("p2"), m.group("dataset"), m.group("table"))
