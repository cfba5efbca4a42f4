"""The one error of the classification core."""


class FoldError(ValueError):
    """An event that cannot be applied; the state is unchanged."""
