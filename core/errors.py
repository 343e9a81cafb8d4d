"""The one error type the core raises for bad input: it names the place and the problem."""


class ConvScopeError(Exception):
    """A problem with a file, a layer or an input, told in one line.

    ``source`` is the file (or other origin) and ``place`` the spot inside it, e.g.
    ``layers[3].body[1] 'conv2'``; either may be empty.
    """

    def __init__(self, message: str, place: str = "", source: str = ""):
        self.message = message
        self.place = place
        self.source = source
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = [p for p in (self.source, self.place) if p]
        return ": ".join(parts + [self.message])

    def located(self, source: str = "", place: str = "") -> "ConvScopeError":
        """The same error with a source or an outer place filled in."""
        return ConvScopeError(self.message, place or self.place, source or self.source)
