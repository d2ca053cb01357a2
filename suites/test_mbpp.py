"""MBPP as a regression gate: ``pytest suites -k mbpp`` (see suites/mbpp.py).

Generated code runs only in harness/sandbox.py; a machine without a sandbox refuses.
"""

specboard_suite = "mbpp"


def test_task(specboard_case):  # type: ignore[no-untyped-def]
    specboard_case.check()
