"""What both REST apps share, below ``data_pipeline`` and ``dolphin_publisher`` alike.

``errors``: the base of every error a caller can act on (its code and HTTP status), free of any web
framework so core code can raise it. ``envelope``: the answer envelope, the one exception-to-answer
mapping and the shared ``ErrorEnvelope`` schema. ``auth``: the caller's dependencies, which the host
binds through dependency overrides.
"""

from platform_api.errors import ServiceError

__all__ = ["ServiceError"]
