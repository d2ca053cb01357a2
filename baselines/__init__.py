"""Registry of general-purpose baseline models and committed gate baselines."""
