"""pytest configuration of the suites: the specboard plugin (options, parametrisation, gate)."""

pytest_plugins = ["specboard.harness.pytest_plugin"]
