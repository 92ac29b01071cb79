"""A refusal the Studio shows in words: field and message pairs, with the HTTP status to answer."""

from __future__ import annotations


class StudioError(ValueError):
    """A refusal in words: `problems` are (field, message) pairs, `status` the HTTP status."""

    def __init__(self, problems: list[tuple[str, str]], status: int = 422):
        self.problems, self.status = problems, status
        super().__init__("; ".join(f"{f}: {m}" for f, m in problems))


def not_found(what: str) -> StudioError:
    return StudioError([("(path)", f"{what} not found")], 404)
