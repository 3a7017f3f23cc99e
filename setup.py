"""Packaging for shelfscan; also usable as Dataflow's --setup_file."""
from pathlib import Path

import setuptools

HERE = Path(__file__).parent


def _requirements() -> list[str]:
    lines = (HERE / "requirements.txt").read_text().splitlines()
    return [ln.split("#")[0].strip() for ln in lines if ln.split("#")[0].strip()]


setuptools.setup(
    name="shelfscan",
    version="0.1.0",
    description="Count and measure a target product's bottles in photo archives, on Apache Beam.",
    license="Apache-2.0",
    license_files=["LICENSE", "THIRD_PARTY.md"],
    python_requires=">=3.11,<3.12",
    packages=setuptools.find_packages(
        include=["pipeline", "pipeline.*", "transforms", "transforms.*", "models", "models.*"]),
    include_package_data=True,
    package_data={"models": ["default/**/*", "label/*.html", "realset/*.json", "realset/*.md"],
                  "pipeline": ["samples/*", "samples/*/*", "visual_report/*.css", "visual_report/*.js"]},
    install_requires=_requirements(),
)
