"""Regenerate the bundled sample images (synthetic scenes; no downloads). Run from the repo root."""

import json
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

OUT = Path(__file__).parent / "sample"
SCENES = [
    ("red_ball", (70, 130, 180), [("ellipse", (240, 160, 400, 320), (220, 30, 30))]),
    ("green_field", (120, 190, 90), [("rectangle", (0, 300, 640, 480), (60, 140, 50))]),
    ("sunset", (250, 150, 60), [("ellipse", (260, 260, 380, 380), (255, 220, 80))]),
    (
        "night_house",
        (20, 24, 60),
        [
            ("rectangle", (220, 220, 420, 400), (140, 90, 60)),
            ("polygon", [(200, 220), (320, 120), (440, 220)], (110, 40, 40)),
        ],
    ),
    (
        "blue_boat",
        (40, 110, 200),
        [("polygon", [(200, 300), (440, 300), (400, 360), (240, 360)], (250, 250, 250))],
    ),
    (
        "yellow_sign",
        (180, 180, 180),
        [("polygon", [(320, 100), (440, 240), (320, 380), (200, 240)], (240, 200, 20))],
    ),
]


def make(name, bg, shapes, seed):
    rng = random.Random(seed)
    img = Image.new("RGB", (640, 480), bg)
    draw = ImageDraw.Draw(img)
    for _ in range(400):  # texture, so JPEGs are photo-sized
        x, y = rng.randrange(640), rng.randrange(480)
        c = tuple(max(0, min(255, v + rng.randint(-25, 25))) for v in bg)
        draw.ellipse((x, y, x + rng.randint(2, 12), y + rng.randint(2, 12)), fill=c)
    for kind, xy, fill in shapes:
        getattr(draw, kind)(xy, fill=fill)
    img = img.filter(ImageFilter.GaussianBlur(0.6))
    img.save(OUT / "images" / f"{name}.jpg", quality=88)


def main():
    (OUT / "images").mkdir(parents=True, exist_ok=True)
    for seed, (name, bg, shapes) in enumerate(SCENES):
        make(name, bg, shapes, seed)
    records = [
        {
            "image": [f"images/{name}.jpg"],
            "conversation": [
                {
                    "from": "human",
                    "value": "<image>\nLook at the picture and write three question-answer pairs about it.",
                }
            ],
        }
        for name, _, _ in SCENES[:5]
    ]
    records.append(
        {
            "image": ["images/yellow_sign.jpg", "images/red_ball.jpg"],
            "conversation": [
                {
                    "from": "human",
                    "value": "Image 1: <image>\nImage 2: <image>\nCompare the two images in question-answer pairs.",
                }
            ],
        }
    )
    (OUT / "records.json").write_text(json.dumps(records, indent=2) + "\n")
    (OUT / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


if __name__ == "__main__":
    main()
