"""Static leaderboard site built from specboard result rows."""
