"""Errors a user can act on."""

from __future__ import annotations

from pathlib import Path


class ClueError(Exception):
    """Base class of clue's errors."""


class DataMissingError(ClueError):
    """A task's data file is not where it is looked for."""

    def __init__(self, task: str, path: Path, how_to_obtain: str) -> None:
        self.task = task
        self.path = Path(path)
        self.how_to_obtain = how_to_obtain
        super().__init__(f"{task}: data file not found: {self.path}. {how_to_obtain}")


class DataFormatError(ClueError):
    """A record of a data file is malformed. Names the file, the line/row and the field."""

    def __init__(self, path: Path | str, location: str, field: str, problem: str) -> None:
        self.path = Path(path)
        self.location = location
        self.field = field
        self.problem = problem
        super().__init__(f"{self.path}: {location}: field {field!r}: {problem}")


class EngineError(ClueError):
    """An engine could not be built or failed to generate."""


class ConfigError(ClueError):
    """A setting, option or registry entry is invalid."""


class DataReadError(DataFormatError):
    """A task's data file could not be read at all (permissions, a folder in its place, nesting, memory)."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(path, "<file>", "<file>", problem)
        self.args = (f"{self.path}: cannot read the data file: {problem}",)

    def __str__(self) -> str:
        return str(self.args[0])


class DataUseRefused(ConfigError):
    """A task's data may not be sent where the engine would send it (PhysioNet data use agreement)."""
