"""The emulator's API error: an ErrCode, its message, and how it travels."""

from __future__ import annotations

MESSAGES: dict[int, str] = {
    400011: "Empty parameter",
    400012: "Invalid account",
    400013: "Invalid binding request: wrong parameter type or value",
    400017: "Invalid parameter",
    400018: "Prompt length exceeds the limit",
    400019: "Negative prompt length exceeds the limit",
    400032: "Invalid image ID",
    500008: "Requested data not found",
    500020: "No permission for this operation",
    500030: "Image size cannot exceed 20M",
    500031: "Failed to retrieve image information",
    500032: "Invalid image format",
    500033: "Invalid image width or height",
    500041: "Image upload failed",
    500042: "Invalid image path",
    500044: "Reached the limit for concurrent generations",
    500052: "Image failed review",
    500054: "Content moderation failure",
    500063: "Input moderation failed",
    500064: "Content has been deleted",
    500069: "System under high load, please try again later",
    500070: "Current template is not activated",
    500071: "Effect does not support 720p or 1080p",
    500090: "Insufficient balance",
    500100: "Database error",
    99999: "Unknown error",
    701002: "The image lacks a clear subject",
    701003: "The video lacks a person as the primary focus",
}


class ApiError(Exception):
    """An error answer. ``lower`` selects the ``err_code/err_msg/resp`` envelope (HTTP 500)."""

    def __init__(
        self, code: int, detail: str = "", *, http_status: int = 200, lower: bool = False
    ) -> None:
        base = MESSAGES.get(code, "Error")
        self.code = code
        self.message = f"{base}: {detail}" if detail else base
        self.http_status = http_status
        self.lower = lower
        super().__init__(self.message)


def invalid(detail: str) -> ApiError:
    """400017 with a sub-message naming the field."""
    return ApiError(400017, detail)


def bad_type(field: str, expected: str) -> ApiError:
    """400013: a field of the wrong JSON type."""
    return ApiError(400013, f"{field} must be {expected}")
