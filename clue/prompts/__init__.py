"""Prompt construction: few-shot selection, the three renderings, truncation to the context."""
