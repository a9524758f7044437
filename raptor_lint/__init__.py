"""raptor-lint: the Raptor operations runbook's review rules as machine checks."""

__version__ = "0.2.0"
