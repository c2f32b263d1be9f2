"""Line counts as records keep them: one type from the file to the record, and the invariants every
stage can rely on (the classes sum to the physical lines; a total is the sum of its files)."""

from __future__ import annotations

from dataclasses import dataclass


class RecordInvariantError(ValueError):
    """Numbers that cannot describe the files they claim to (classes that do not sum, a total that
    is not the sum of its files): a record holding them does not load, so no stage can use them."""


@dataclass(frozen=True)
class Counts:
    """How many physical lines a text has, and of which class; the classes sum to `physical`.

    One type from the file to the record: count.py makes them, records keep them."""

    physical: int
    blank: int
    comment: int
    docstring: int
    code: int

    def __post_init__(self) -> None:
        check_classes(self.physical, self.blank, self.comment, self.docstring, self.code)

    def as_dict(self) -> dict[str, int]:
        return {"physical": self.physical, "blank": self.blank, "comment": self.comment,
                "docstring": self.docstring, "code": self.code}

    def __add__(self, other: object) -> Counts:
        if not isinstance(other, Counts):
            return NotImplemented
        return Counts(self.physical + other.physical, self.blank + other.blank, self.comment + other.comment,
                      self.docstring + other.docstring, self.code + other.code)


def check_classes(physical: int, *classes: int) -> None:
    if min(physical, *classes) < 0 or sum(classes) != physical:
        raise RecordInvariantError(f"line classes {list(classes)} sum to {sum(classes)}, "
                                   f"not to the {physical} physical lines")


NO_LINES = Counts(0, 0, 0, 0, 0)


@dataclass(frozen=True)
class Lines:
    """Counts per file and in total; the total is the sum of the files."""

    total: Counts
    files: dict[str, Counts]

    def __post_init__(self) -> None:
        summed = sum(self.files.values(), NO_LINES)
        if summed != self.total:
            raise RecordInvariantError(f"the total {self.total.as_dict()} is not the sum of the files "
                                       f"{summed.as_dict()}")


@dataclass(frozen=True)
class Size:
    """The size of code that cramming cannot fake (measure/size.py): its code tokens, without comments
    and docstrings, and their characters. Packing statements into one line saves a line, no token."""

    tokens: int
    characters: int

    def __post_init__(self) -> None:
        if not 0 <= self.tokens <= self.characters:
            raise RecordInvariantError(f"{self.tokens} tokens of {self.characters} characters")

    def __add__(self, other: object) -> Size:
        if not isinstance(other, Size):
            return NotImplemented
        return Size(self.tokens + other.tokens, self.characters + other.characters)


NO_SIZE = Size(0, 0)


@dataclass(frozen=True)
class Sizes:
    """Size per file and in total; the total is the sum of the files."""

    total: Size
    files: dict[str, Size]

    def __post_init__(self) -> None:
        summed = sum(self.files.values(), NO_SIZE)
        if summed != self.total:
            raise RecordInvariantError(f"the total size {self.total} is not the sum of the files' {summed}")
