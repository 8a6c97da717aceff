"""Resource namespaces of :class:`~pixverse_async.AsyncPixVerse`."""

from .account import AccountResource
from .image import ImageResource
from .media import MediaResource
from .video import VideoResource

__all__ = ["AccountResource", "ImageResource", "MediaResource", "VideoResource"]
