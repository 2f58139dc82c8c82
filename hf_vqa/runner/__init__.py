"""How the map steps run over a dataset: the lookahead across batch boundaries (lookahead), the pipeline
on a stream (streaming), and the undocumented parts of `datasets` these lean on (datasets_internals)."""

__all__ = []
