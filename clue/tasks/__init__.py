"""The CLUE tasks, one module each; clue.tasks.registry lists them."""
