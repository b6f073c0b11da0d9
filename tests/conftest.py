"""Fixtures shared by the whole suite; each area keeps its own in ``tests/fixtures``."""

pytest_plugins = [
    "tests.fixtures.stores",
    "tests.fixtures.tator",
    "tests.fixtures.fastvss",
    "tests.fixtures.fiftyone",
    "tests.fixtures.log_audit",
]
