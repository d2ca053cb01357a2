"""specboard CLI subcommands; every module here with a ``register`` function is a command."""
