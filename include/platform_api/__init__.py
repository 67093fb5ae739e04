"""What both REST apps share below everything else: the error base whose code and status they answer with.

``data_pipeline`` and ``dolphin_publisher`` derive their errors from ``ServiceError``, so one handler
turns any of them into the same error envelope, whichever app it happens in.
"""

from platform_api.errors import ServiceError

__all__ = ["ServiceError"]
