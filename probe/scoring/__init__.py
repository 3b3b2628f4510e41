"""Scoring: one interface for every model kind (neural, n-gram, Hugging Face), batching and prefix tries, SyntaxGym suites."""
