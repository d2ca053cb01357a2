"""The regression gate: paired statistics and three-valued decisions (``docs/gate.md``).

- :mod:`.stats`: intervals and tests (Wilson, exact McNemar, paired bootstrap/t, Holm);
- :mod:`.compare`: pairing two runs' samples and deciding PASS / FAIL / INCONCLUSIVE.
"""
