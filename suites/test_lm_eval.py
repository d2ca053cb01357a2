"""lm-eval tasks (ARC, HellaSwag, MMLU, PIQA, Winogrande, BoolQ, OBQA, LAMBADA, GSM8K) on offline data."""

specboard_suite = "lm_eval"


def test_task(specboard_case):
    specboard_case.check()
