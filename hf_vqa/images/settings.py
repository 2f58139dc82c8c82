"""The image settings (size caps, encoding, URL fetching) and the prepared image they produce: values.

Example:
    >>> ImageSettings(max_side=1024).max_side
    1024
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hf_vqa.errors import ConfigError
from hf_vqa.images.fetch import FetchSettings


@dataclass(frozen=True)
class ImageSettings:
    """Size caps and encoding choices for `prepare_image`. Example: ``ImageSettings(max_side=1024)``."""

    max_side: int = 2048
    max_pixels: int = 2048 * 2048
    max_source_pixels: int = 16384 * 16384 // 2
    jpeg_quality: int = 90
    passthrough_max_bytes: int = 4 * 1024 * 1024
    url: FetchSettings = FetchSettings()  # noqa: RUF009 (frozen, so sharing the default is safe)

    def __post_init__(self) -> None:
        for name, low, high in (
            ("max_side", 1, None),
            ("max_pixels", 1, None),
            ("max_source_pixels", 1, None),
            ("jpeg_quality", 1, 100),
            ("passthrough_max_bytes", 0, None),
        ):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or value < low
                or (high and value > high)
            ):
                span = f"between {low} and {high}" if high else f">= {low}"
                raise ConfigError(
                    f"ImageSettings.{name} must be an integer {span}",
                    received=value,
                    fix=f"pass {name}={getattr(ImageSettings, name)} (the default)",
                )
        if not isinstance(self.url, FetchSettings):
            raise ConfigError(
                "ImageSettings.url must be a FetchSettings",
                received=self.url,
                fix="pass url=FetchSettings(...)",
            )


@dataclass(frozen=True)
class PreparedImage:
    """An image ready to send: ``{"type": "image_url", "image_url": {"url": img.data_url}}``.

    `b64` is the image's bytes in standard base64 (ASCII): the request body is joined from it as bytes
    (`url_pieces`), without making the data URL as text (a decode and a copy of ~180 KB per photo).

    Example:
        >>> img = PreparedImage("image/png", 1, 1, "ab12", 3, "<bytes 3>", True, b"AAAA")
        >>> img.data_url, img.url_pieces()
        ('data:image/png;base64,AAAA', (b'data:image/png;base64,', b'AAAA'))
    """

    mime: str
    width: int
    height: int
    sha256: str
    nbytes: int
    source: str
    passthrough: bool
    b64: bytes = field(repr=False)

    @property
    def data_url(self) -> str:
        """The image as a ``data:<mime>;base64,...`` URL."""
        return f"data:{self.mime};base64,{self.b64.decode('ascii')}"

    def url_pieces(self) -> tuple[bytes, bytes]:
        """The data URL as ASCII bytes, in two pieces (joined, they are `data_url`)."""
        return f"data:{self.mime};base64,".encode("ascii"), self.b64


__all__ = ["ImageSettings", "PreparedImage"]
