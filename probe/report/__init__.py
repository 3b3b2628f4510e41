"""Figures, the Markdown report and the overview table of every test set."""
