"""EGGROLL and torch trainers whose checkpoints are specboard candidates."""
