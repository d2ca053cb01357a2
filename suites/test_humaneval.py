"""HumanEval as a regression gate: ``pytest suites -k humaneval`` (see suites/humaneval.py).

Generated code runs only in harness/sandbox.py; a machine without a sandbox refuses.
"""

specboard_suite = "humaneval"


def test_task(specboard_case):  # type: ignore[no-untyped-def]
    specboard_case.check()
