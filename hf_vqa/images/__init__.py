"""Images, from a row's value to the data URL a request carries.

- `prepare`: path | URL | bytes | PIL | `{"bytes", "path"}` → data URL (small JPEG/PNG/WEBP untouched).
- `convert`: the pixel path for the rest (EXIF orientation, odd modes, downscale, encode).
- `fetch`: safe URL fetching (http(s) only, timeouts, byte cap, redirect cap, private-address policy).
- `columns`: a dataset's image columns, raw (`decode=False`) or decoded.
"""

__all__: list[str] = []
