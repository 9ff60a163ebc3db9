"""Shared fixtures for the whole suite.

The chain (py-evm with our compiled contracts) and AWS (moto with the KMS
DIGEST patch) fixtures live in ``tests/fixtures``; this file wires them in and
adds the app-level fixtures built on both.
"""

from __future__ import annotations

pytest_plugins = [
    "tests.fixtures.chain",
    "tests.fixtures.aws",
    "tests.fixtures.app",
    "tests.fixtures.browser",
]
