"""Three.js domain suite: held-out bits/byte, next-line completion, API-idiom cloze."""

specboard_suite = "threejs"


def test_task(specboard_case):
    specboard_case.check()
