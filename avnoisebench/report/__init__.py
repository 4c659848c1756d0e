"""Reporting: the leaderboard (md/csv/html), the study in the paper's layout, figures, the paper's reference rows."""
