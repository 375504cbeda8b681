"""aws-masker: mask AWS identifiers in LLM API requests, restore them in replies."""

__version__ = "0.1.0"
