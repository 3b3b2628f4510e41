"""probe: do neural language models learn syntax or word order? Agreement minimal pairs, RNN LMs, scores."""

__version__ = "0.1.0"
