"""The report: each unit analysed once (``analysis``), its tables and pages (``tables``, ``pages``),
campaign plots (``plots``), a replicate notebook's figures (``figures``), and ``build``."""
