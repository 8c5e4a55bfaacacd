"""Sphinx configuration of the sbc documentation: pydata-sphinx-theme, MyST markdown, myst-nb
notebooks (executed once and cached), autodoc for the public API, and the params and CLI references
generated from the code (``_ext/sbc_reference.py``). Built offline by ``make docs``."""

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path[:0] = [str(DOCS.parent), str(DOCS / "_ext")]

project = "sbc"
author = "the sbc developers"
copyright = "2026, the sbc developers"

extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "sbc_reference"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "screenshots.py", "_ext"]

myst_enable_extensions = ["colon_fence", "deflist"]
smartquotes = False  # "--output-dir" stays two hyphens
myst_heading_anchors = 3
nb_execution_mode = "cache"
nb_execution_excludepatterns = ["examples/template.ipynb"]  # the replicate template, shown as stored
nb_execution_cache_path = str(DOCS / "_build" / ".jupyter_cache")
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_kernel_rgx_aliases = {".*": "python3"}

autodoc_default_options = {"members": True}
autodoc_typehints = "description"
autodoc_member_order = "bysource"

html_theme = "pydata_sphinx_theme"
html_title = "sbc"
html_static_path = []
html_theme_options = {
    "navigation_with_keys": False,
    "header_links_before_dropdown": 7,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_show_sourcelink = False
