"""Cost: image-token formulas per model family, and the estimate of a run before it is sent."""

__all__: list[str] = []
