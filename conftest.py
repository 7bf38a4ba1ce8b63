"""Root conftest: offline settings for every test run (pytester is enabled in pyproject's addopts).

The clue plugin itself is registered through the ``pytest11`` entry point (pip install -e .).
"""

import os

# No test may reach a model hub: everything is built locally.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Property tests explore a fixed sequence of examples, so a CI run is reproducible; set
# HYPOTHESIS_PROFILE=explore locally to search with fresh random examples.
from hypothesis import settings  # noqa: E402

settings.register_profile("clue", derandomize=True, deadline=None)
settings.register_profile("explore", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "clue"))
