"""MkDocs hook: the docstrings' `Example:` sections render as examples (code, with `>>>` prompts).

The project's docstrings (Google style) say `Example:`; griffe's Google parser knows only the plural
`Examples:` and would render the singular as a note with the prompts read as quote markers. This adds
the singular to griffe's table of section titles. It touches griffe's private table, so if a griffe
release moves it the build still succeeds: the examples then render as notes, and this says so.
"""

from __future__ import annotations

import logging

log = logging.getLogger("mkdocs.hooks.docstrings")


def on_config(config):
    try:
        from griffe import DocstringSectionKind
        from griffe._internal.docstrings import google

        google._section_kind.setdefault("example", DocstringSectionKind.examples)
    except (ImportError, AttributeError) as err:  # a griffe that moved its table: examples render as notes
        log.info("docstrings hook: 'Example:' sections stay notes (%s)", err)
    return config
