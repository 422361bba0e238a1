"""Console for integration engineers (``/console``, off unless ``IOP_CDS_CONSOLE``): policies, criteria, try-it.

May import engine, record, cards, config, logs and offline; the hooks stage registers its blueprint.
"""

from cds_service.console.views import console_blueprint

__all__ = ["console_blueprint"]
