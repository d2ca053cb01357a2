"""BFCL v4 as a regression gate: ``pytest suites -k bfcl`` (see suites/bfcl.py)."""

specboard_suite = "bfcl"


def test_task(specboard_case):  # type: ignore[no-untyped-def]
    specboard_case.check()
