"""Write the small synthetic dataset in ``sample_data/``.

Why it exists: segaug needs a dataset that can be committed, that exercises the awkward cases
(nested folders, RGB and single-channel images, PNG and JPEG sources, odd sizes, objects cut by
the border, a 255 "ignore" label), and whose licence is ours. Real datasets are too large or
non-commercial, so the scenes are drawn here from a fixed seed.

How the pairs stay aligned: every object is rasterised once into a boolean region, and that same
region sets both the mask label and the image pixels (copied from the object's texture). No
anti-aliasing is used, so a class region in the image is exactly the same set of pixels as in
the mask.

Determinism: each pair draws from its own generator, seeded from a fixed constant and the pair's
name (not its position in the list), and nothing reads the clock. Running the script twice gives
byte-identical files with the same numpy and OpenCV versions. The script only writes (overwrites)
its own files; it never deletes anything in the output folder.

Usage:
    python scripts/make_sample_data.py [OUT_DIR]      # default: <repo root>/sample_data
"""

from __future__ import annotations

import argparse
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

SEED = 20_240_601
VOID = 255
PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 9]
JPEG_PARAMS = [cv2.IMWRITE_JPEG_QUALITY, 90]

CLASSES = {
    "street": ("sky", "road", "building", "vegetation", "vehicle", "person"),
    "aerial": ("bare ground", "road", "building", "vegetation", "water", "vehicle"),
    "micro": ("background", "cell (cytoplasm)", "nucleus"),
}
VOID_NOTE = {
    "street": "overhead wires (thin strokes, too thin to label reliably)",
    "micro": "a scratch on the slide (imaging artefact)",
}


# --- a canvas that keeps image and mask in step ------------------------------------------------


@dataclass
class Canvas:
    """An image being painted together with its label mask."""

    image: np.ndarray  # (H, W, 3) RGB or (H, W) gray, float32 in 0..255
    label: np.ndarray  # (H, W) uint8 class indices

    @property
    def hw(self) -> tuple[int, int]:
        return self.label.shape

    def paint(self, region: np.ndarray, cls: int, texture: np.ndarray) -> None:
        """Set `region` to class `cls` in the mask and to `texture` in the image."""
        self.label[region] = cls
        self.image[region] = texture[region]


def new_canvas(h: int, w: int, cls: int, texture: np.ndarray) -> Canvas:
    return Canvas(image=texture.astype(np.float32).copy(), label=np.full((h, w), cls, np.uint8))


# --- rasterising shapes (coordinates may lie outside the image: OpenCV clips) ----------------


def _blank(hw: tuple[int, int]) -> np.ndarray:
    return np.zeros(hw, np.uint8)


def polygon(hw: tuple[int, int], pts) -> np.ndarray:
    canvas = _blank(hw)
    cv2.fillPoly(canvas, [np.round(np.asarray(pts)).astype(np.int32)], 1, cv2.LINE_8)
    return canvas.astype(bool)


def rect(hw: tuple[int, int], x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return polygon(hw, [(x0, y0), (x1, y0), (x1, y1), (x0, y1)])


def rotated_rect(hw: tuple[int, int], cx: float, cy: float, w: float, h: float, deg: float):
    return polygon(hw, cv2.boxPoints(((float(cx), float(cy)), (float(w), float(h)), float(deg))))


def ellipse(hw: tuple[int, int], cx: float, cy: float, ax: float, ay: float, deg: float = 0):
    canvas = _blank(hw)
    centre, axes = (round(cx), round(cy)), (max(1, round(ax)), max(1, round(ay)))
    cv2.ellipse(canvas, centre, axes, float(deg), 0, 360, 1, cv2.FILLED, cv2.LINE_8)
    return canvas.astype(bool)


def stroke(hw: tuple[int, int], pts, thickness: int) -> np.ndarray:
    canvas = _blank(hw)
    line = [np.round(np.asarray(pts)).astype(np.int32)]
    cv2.polylines(canvas, line, False, 1, int(thickness), cv2.LINE_8)
    return canvas.astype(bool)


# --- texture building blocks -----------------------------------------------------------------


def grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column coordinates, float32 (row first, like numpy indexing)."""
    yy, xx = np.mgrid[0:h, 0:w]
    return yy.astype(np.float32), xx.astype(np.float32)


def value_noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Smooth noise in [0, 1] with blobs about `cell` pixels wide."""
    gh, gw = h // cell + 3, w // cell + 3
    coarse = rng.random((gh, gw), dtype=np.float32)
    fine = cv2.resize(coarse, (gw * cell, gh * cell), interpolation=cv2.INTER_CUBIC)
    return np.clip(fine[:h, :w], 0.0, 1.0)


def grain(rng: np.random.Generator, h: int, w: int, sigma: float) -> np.ndarray:
    """Per-pixel sensor-like noise; kept small because it is what makes PNGs large."""
    return rng.normal(0.0, sigma, (h, w)).astype(np.float32)


def tint(colour, shade: np.ndarray) -> np.ndarray:
    """An RGB texture: a base colour modulated by a (H, W) brightness field."""
    return shade[..., None] * np.asarray(colour, np.float32)


def add_gray(texture: np.ndarray, field: np.ndarray) -> np.ndarray:
    """Add the same (H, W) field to every channel (luma noise, as a camera produces)."""
    return texture + (field[..., None] if texture.ndim == 3 else field)


def pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


# --- street textures -----------------------------------------------------------------------


def sky_texture(rng, h: int, w: int, horizon: float) -> np.ndarray:
    yy, _ = grid(h, w)
    t = np.clip(yy / max(horizon, 1.0), 0, 1)[..., None]
    base = (1 - t) * np.float32([55, 115, 200]) + t * np.float32([180, 210, 238])
    clouds = np.clip((value_noise(rng, h, w, 26) - 0.5) * 2.5, 0, 1)[..., None] * 0.85
    return add_gray(base * (1 - clouds) + 245 * clouds, grain(rng, h, w, 1.5))


def asphalt_texture(rng, h: int, w: int) -> np.ndarray:
    shade = 0.85 + 0.3 * value_noise(rng, h, w, 14)
    return add_gray(tint((98, 98, 104), shade), grain(rng, h, w, 7))


def foliage_texture(rng, h: int, w: int, colour=(55, 110, 40)) -> np.ndarray:
    mottle = 0.6 * value_noise(rng, h, w, 3) + 0.4 * value_noise(rng, h, w, 11)
    return add_gray(tint(colour, 0.55 + 0.9 * mottle), grain(rng, h, w, 5))


def facade_texture(rng, h: int, w: int, x0: float, y0: float) -> np.ndarray:
    """Brick-ish wall with horizontal mortar stripes and a grid of windows."""
    yy, xx = grid(h, w)
    wall = pick(rng, [(150, 80, 60), (190, 180, 160), (120, 120, 128), (200, 160, 110)])
    mortar = np.where(yy.astype(int) % 5 == 0, 0.82, 1.0).astype(np.float32)
    texture = tint(wall, mortar * (0.85 + 0.3 * value_noise(rng, h, w, 9)))
    px, py = int(rng.integers(14, 24)), int(rng.integers(16, 26))
    windows = (((xx - x0) % px) > px * 0.4) & (((yy - y0) % py) > py * 0.45)
    glass = tint((60, 80, 100), 0.7 + 0.6 * (1 - ((yy - y0) % py) / py))
    texture[windows] = glass[windows]
    return add_gray(texture, grain(rng, h, w, 4))


def paint_texture(rng, h: int, w: int, y0: float, y1: float) -> np.ndarray:
    """Glossy car paint: lighter on top, with a bright sheen line."""
    yy, xx = grid(h, w)
    colour = pick(rng, [(200, 30, 35), (30, 60, 170), (230, 230, 225), (25, 25, 28), (240, 190, 20)])
    t = np.clip((yy - y0) / max(y1 - y0, 1.0), 0, 1)
    sheen = 0.35 * np.exp(-(((t - 0.3) * 12) ** 2)) * (0.6 + 0.4 * np.sin(xx / 7.0))
    return add_gray(tint(colour, 1.1 - 0.45 * t) + 255 * sheen[..., None], grain(rng, h, w, 3))


def cloth_texture(rng, h: int, w: int) -> np.ndarray:
    yy, _ = grid(h, w)
    colour = pick(rng, [(180, 40, 40), (40, 90, 160), (230, 200, 60), (70, 140, 80)])
    period = int(rng.integers(4, 8))
    stripes = np.where((yy.astype(int) // period) % 2 == 0, 1.0, 0.7).astype(np.float32)
    return add_gray(tint(colour, stripes), grain(rng, h, w, 4))


def flat_texture(rng, h: int, w: int, colour, sigma: float = 4) -> np.ndarray:
    """Nearly uniform material (skin, tyres, glass, wires) with a little grain."""
    return add_gray(tint(colour, np.ones((h, w), np.float32)), grain(rng, h, w, sigma))


# --- street scenes: a road to the horizon, buildings, trees, cars, people --------------------


class Street:
    SKY, ROAD, BUILDING, VEGETATION, VEHICLE, PERSON = range(6)


def street_scene(rng: np.random.Generator, h: int, w: int, void: bool) -> Canvas:
    horizon = h * rng.uniform(0.42, 0.5)
    c = new_canvas(h, w, Street.SKY, sky_texture(rng, h, w, horizon))
    add_buildings(c, rng, horizon)
    verge = foliage_texture(rng, h, w, colour=(90, 135, 55))  # grass between road and houses
    c.paint(rect(c.hw, -5, horizon, w + 5, h + 5), Street.VEGETATION, verge)
    add_road(c, rng, horizon)
    add_street_trees(c, rng, horizon)
    add_cars(c, rng, horizon)
    add_people(c, rng, horizon)
    if void:
        add_wires(c, rng, horizon)
    return c


def add_buildings(c: Canvas, rng, horizon: float) -> None:
    """A row of facades from beyond the left edge to beyond the right one, some above the top."""
    h, w = c.hw
    x = -rng.uniform(10, 30)
    while x < w:
        bw = rng.uniform(0.18, 0.35) * w
        top = rng.uniform(-0.15 * h, 0.55 * horizon)
        region = rect(c.hw, x, top, x + bw, horizon + 2)
        c.paint(region, Street.BUILDING, facade_texture(rng, h, w, x, top))
        x += bw + rng.uniform(-5, 0.08 * w)  # slight overlaps and sky gaps between houses


def add_road(c: Canvas, rng, horizon: float) -> None:
    """A road narrowing to a vanishing point; its bottom corners lie outside the frame."""
    h, w = c.hw
    vx = w * rng.uniform(0.4, 0.6)
    pts = [(vx - 0.03 * w, horizon), (vx + 0.03 * w, horizon), (1.3 * w, h + 5), (-0.3 * w, h + 5)]
    texture = asphalt_texture(rng, h, w)
    for k in range(10):  # centre-line dashes, longer and wider towards the camera
        t0, t1 = (k / 10) ** 1.6, ((k + 0.5) / 10) ** 1.6
        p0 = (round(vx + (0.5 * w - vx) * t0), round(horizon + (h - horizon) * t0))
        p1 = (round(vx + (0.5 * w - vx) * t1), round(horizon + (h - horizon) * t1))
        cv2.line(texture, p0, p1, (235, 232, 220), max(1, round(4 * t1)), cv2.LINE_8)
    c.paint(polygon(c.hw, pts), Street.ROAD, texture)


def add_street_trees(c: Canvas, rng, horizon: float) -> None:
    """Trees on the verge near the sides, so canopies spill over the side or top border."""
    h, w = c.hw
    for side in rng.permutation(2)[: int(rng.integers(1, 3))]:
        x = w * (rng.uniform(-0.04, 0.1) if side == 0 else rng.uniform(0.9, 1.04))
        base = rng.uniform(horizon + 8, 0.8 * h)
        r = rng.uniform(0.12, 0.2) * w
        trunk = rect(c.hw, x - 0.08 * r, base - 1.4 * r, x + 0.08 * r, base)
        c.paint(trunk, Street.VEGETATION, bark_texture(rng, h, w))
        canopy = ellipse(c.hw, x, base - 1.5 * r, r, 0.8 * r, rng.uniform(-20, 20))
        c.paint(canopy, Street.VEGETATION, foliage_texture(rng, h, w))


def bark_texture(rng, h: int, w: int) -> np.ndarray:
    _, xx = grid(h, w)
    ridges = 0.8 + 0.2 * np.sin(xx * 1.7)  # vertical furrows of the bark
    return add_gray(tint((95, 70, 45), ridges * (0.8 + 0.4 * value_noise(rng, h, w, 4))), grain(rng, h, w, 4))


def depth(h: int, horizon: float, y: float) -> float:
    """Apparent size factor of something standing at row y: 0 at the horizon, 1 at the bottom."""
    return (y - horizon) / (h - horizon)


def add_cars(c: Canvas, rng, horizon: float) -> None:
    """Cars on the road, far ones first so near ones occlude them; the nearest is cut by a side."""
    h, w = c.hw
    ys = np.sort(rng.uniform(horizon + 0.2 * (h - horizon), 0.97 * h, int(rng.integers(1, 4))))
    for k, y in enumerate(ys):
        nearest = k == len(ys) - 1
        cx = w * (rng.choice([0.02, 0.98]) if nearest else rng.uniform(0.25, 0.75))
        paint_car(c, rng, cx, y, 0.5 * w * depth(h, horizon, y))


def paint_car(c: Canvas, rng, cx: float, bottom: float, width: float) -> None:
    """Body, cabin, windows and wheels: all of it is class `vehicle`."""
    h, w = c.hw
    body_top, cabin_top = bottom - 0.32 * width, bottom - 0.5 * width
    paint = paint_texture(rng, h, w, cabin_top, bottom)
    half = width / 2
    c.paint(rect(c.hw, cx - half, body_top, cx + half, bottom - 0.06 * width), Street.VEHICLE, paint)
    cabin = [
        (cx - 0.38 * width, body_top),
        (cx - 0.25 * width, cabin_top),
        (cx + 0.25 * width, cabin_top),
        (cx + 0.38 * width, body_top),
    ]
    c.paint(polygon(c.hw, cabin), Street.VEHICLE, paint)
    window = [
        (cx - 0.33 * width, body_top - 0.02 * width),
        (cx - 0.22 * width, cabin_top + 0.04 * width),
        (cx + 0.22 * width, cabin_top + 0.04 * width),
        (cx + 0.33 * width, body_top - 0.02 * width),
    ]
    c.paint(polygon(c.hw, window), Street.VEHICLE, flat_texture(rng, h, w, (45, 60, 75)))
    for wx in (cx - 0.3 * width, cx + 0.3 * width):
        tyre = ellipse(c.hw, wx, bottom - 0.08 * width, 0.09 * width, 0.08 * width)
        c.paint(tyre, Street.VEHICLE, flat_texture(rng, h, w, (22, 22, 24)))


def add_people(c: Canvas, rng, horizon: float) -> None:
    """Pedestrians by the roadside; the first stands so close that the bottom border cuts the legs."""
    h, w = c.hw
    for k in range(int(rng.integers(1, 3))):
        feet = 1.12 * h if k == 0 else rng.uniform(horizon + 0.3 * (h - horizon), 0.9 * h)
        x = w * rng.choice([rng.uniform(0.1, 0.3), rng.uniform(0.7, 0.9)])
        paint_person(c, rng, x, feet, 0.8 * h * depth(h, horizon, feet))


def paint_person(c: Canvas, rng, x: float, feet: float, height: float) -> None:
    h, w = c.hw
    u = height / 8  # a head is about an eighth of a person's height
    legs, hips, shoulders = flat_texture(rng, h, w, (40, 45, 70)), feet - 4 * u, feet - 6.8 * u
    for dx in (-0.55 * u, 0.15 * u):
        c.paint(rect(c.hw, x + dx, hips, x + dx + 0.45 * u, feet), Street.PERSON, legs)
    torso = [(x - 0.9 * u, shoulders), (x + 0.9 * u, shoulders), (x + 0.7 * u, hips), (x - 0.7 * u, hips)]
    c.paint(polygon(c.hw, torso), Street.PERSON, cloth_texture(rng, h, w))
    head = ellipse(c.hw, x, shoulders - 0.6 * u, 0.45 * u, 0.6 * u)
    c.paint(head, Street.PERSON, flat_texture(rng, h, w, pick(rng, [(224, 172, 140), (141, 85, 36)])))


def add_wires(c: Canvas, rng, horizon: float) -> None:
    """Overhead wires: 1-2 px strokes that annotators mark as void (255) rather than guess."""
    h, w = c.hw
    xs = np.linspace(-10, w + 10, 40)
    for k in range(2):
        y0, sag = rng.uniform(0.05, 0.35) * horizon, rng.uniform(6, 20)
        ys = y0 + sag * (1 - ((xs - w / 2) / (w / 2 + 10)) ** 2)
        region = stroke(c.hw, np.stack([xs, ys], axis=1), thickness=1 + k)
        c.paint(region, VOID, flat_texture(rng, h, w, (35, 35, 40), sigma=2))


# --- aerial tiles: fields, a river, roads, roofs, tree crowns, cars ------------------------


class Aerial:
    GROUND, ROAD, BUILDING, VEGETATION, WATER, VEHICLE = range(6)


def aerial_scene(rng: np.random.Generator, h: int, w: int, void: bool) -> Canvas:
    c = new_canvas(h, w, Aerial.GROUND, soil_texture(rng, h, w))
    add_fields(c, rng)
    add_water(c, rng)
    roads = add_aerial_roads(c, rng)
    add_roofs(c, rng)
    add_crowns(c, rng)
    add_parked_cars(c, rng, roads)
    return c  # no void strokes in aerial tiles: `void` is accepted for a uniform signature


def soil_texture(rng, h: int, w: int) -> np.ndarray:
    """Dry ground with faint plough furrows (oblique stripes)."""
    yy, xx = grid(h, w)
    theta = rng.uniform(0, np.pi)
    furrows = 0.06 * np.sin((xx * np.cos(theta) + yy * np.sin(theta)) * 2 * np.pi / 6)
    shade = 0.8 + 0.3 * value_noise(rng, h, w, 18) + furrows
    return add_gray(tint((165, 140, 100), shade), grain(rng, h, w, 4))


def add_fields(c: Canvas, rng) -> None:
    """Crop fields as quadrilaterals, at least one reaching past a tile edge."""
    h, w = c.hw
    for _ in range(int(rng.integers(2, 4))):
        cx, cy = rng.uniform(-0.1, 1.1) * w, rng.uniform(-0.1, 1.1) * h
        size = rng.uniform(0.2, 0.4) * w
        angles = np.sort(rng.uniform(0, 2 * np.pi, 4))
        pts = [(cx + size * np.cos(a), cy + size * np.sin(a)) for a in angles]
        colour = pick(rng, [(95, 140, 55), (130, 150, 60), (70, 110, 45)])
        c.paint(polygon(c.hw, pts), Aerial.VEGETATION, crop_texture(rng, h, w, colour))


def crop_texture(rng, h: int, w: int, colour) -> np.ndarray:
    """Foliage with crop rows: stripes at a random angle."""
    yy, xx = grid(h, w)
    theta = rng.uniform(0, np.pi)
    rows = 0.85 + 0.15 * np.sign(np.sin((xx * np.cos(theta) + yy * np.sin(theta)) * 2 * np.pi / 5))
    return foliage_texture(rng, h, w, colour) * rows[..., None]


def add_water(c: Canvas, rng) -> None:
    """A river that enters on the left edge and leaves on the right, wobbling in between."""
    h, w = c.hw
    xs = np.linspace(-20, w + 20, 8)
    ys = rng.uniform(0.2, 0.8) * h + np.cumsum(rng.normal(0, 0.06 * h, xs.size))
    c.paint(
        stroke(c.hw, np.stack([xs, ys], axis=1), int(rng.integers(18, 34))),
        Aerial.WATER,
        water_texture(rng, h, w),
    )


def water_texture(rng, h: int, w: int) -> np.ndarray:
    yy, xx = grid(h, w)
    ripples = 0.06 * np.sin(xx * 0.9 + 0.4 * yy) * value_noise(rng, h, w, 10)
    return add_gray(tint((40, 85, 120), 0.85 + 0.3 * value_noise(rng, h, w, 24) + ripples), grain(rng, h, w, 2))


def add_aerial_roads(c: Canvas, rng) -> list[tuple[np.ndarray, np.ndarray]]:
    """One or two straight roads crossing the whole tile; returns their end points."""
    h, w = c.hw
    roads = []
    for _ in range(int(rng.integers(1, 3))):
        start, end = edge_to_edge(rng, h, w)
        region = stroke(c.hw, [start, end], int(rng.integers(10, 16)))
        c.paint(region, Aerial.ROAD, asphalt_texture(rng, h, w))
        roads.append((start, end))
    return roads


def edge_to_edge(rng, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """End points just outside two opposite edges (left-right or top-bottom), as (x, y)."""
    if rng.random() < 0.5:
        return np.array([-10.0, rng.uniform(0, h)]), np.array([w + 10.0, rng.uniform(0, h)])
    return np.array([rng.uniform(0, w), -10.0]), np.array([rng.uniform(0, w), h + 10.0])


def add_roofs(c: Canvas, rng) -> None:
    """Houses on free ground; the first is centred on a tile edge so the border cuts it."""
    h, w = c.hw
    for k in range(int(rng.integers(4, 8))):
        for _ in range(30):  # retry until the house does not sit on a road or in the river
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            if k == 0:
                cx = pick(rng, [0.0, w - 1.0])
            bw, bh, deg = rng.uniform(16, 36), rng.uniform(12, 24), rng.uniform(0, 180)
            region = rotated_rect(c.hw, cx, cy, bw, bh, deg)
            if not np.isin(c.label[region], [Aerial.ROAD, Aerial.WATER]).any():
                c.paint(region, Aerial.BUILDING, roof_texture(rng, h, w, cx, cy, deg))
                break


def roof_texture(rng, h: int, w: int, cx: float, cy: float, deg: float) -> np.ndarray:
    """A gabled roof: the two slopes along the ridge get different light."""
    yy, xx = grid(h, w)
    a = np.deg2rad(deg)
    across = -(xx - cx) * np.sin(a) + (yy - cy) * np.cos(a)  # signed distance from the ridge
    shade = np.where(across < 0, 1.05, 0.75).astype(np.float32)
    colour = pick(rng, [(170, 75, 55), (120, 120, 125), (80, 80, 90), (200, 190, 175)])
    return add_gray(tint(colour, shade), grain(rng, h, w, 3))


def add_crowns(c: Canvas, rng) -> None:
    """Clumps of round tree crowns; they may overhang roofs and roads, as real trees do."""
    h, w = c.hw
    texture = foliage_texture(rng, h, w, colour=(40, 85, 35))
    for _ in range(int(rng.integers(2, 4))):
        cx, cy = rng.uniform(-0.05, 1.05) * w, rng.uniform(-0.05, 1.05) * h
        for _ in range(int(rng.integers(3, 8))):
            x, y, r = cx + rng.normal(0, 12), cy + rng.normal(0, 12), rng.uniform(5, 11)
            c.paint(ellipse(c.hw, x, y, r, r), Aerial.VEGETATION, texture)


def add_parked_cars(c: Canvas, rng, roads) -> None:
    """Small cars along the roads, aligned with them."""
    h, w = c.hw
    for start, end in roads:
        deg = float(np.degrees(np.arctan2(*(end - start)[::-1])))
        for t in rng.uniform(0.05, 0.95, int(rng.integers(1, 4))):
            x, y = start + t * (end - start)
            region = rotated_rect(c.hw, x, y + rng.choice([-3, 3]), 10, 5, deg)
            c.paint(region, Aerial.VEHICLE, paint_texture(rng, h, w, y - 3, y + 3))


# --- microscopy: grayscale fluorescence-like cells ---------------------------------------------


class Micro:
    BACKGROUND, CELL, NUCLEUS = range(3)


def micro_scene(rng: np.random.Generator, h: int, w: int, void: bool) -> Canvas:
    c = new_canvas(h, w, Micro.BACKGROUND, dark_field_texture(rng, h, w))
    for k in range(max(6, h * w // 2600)):
        add_cell(c, rng, on_border=k < 2)
    if void:
        add_scratch(c, rng)
    return c


def dark_field_texture(rng, h: int, w: int) -> np.ndarray:
    """Dim background with uneven illumination (brighter centre), as in widefield images."""
    yy, xx = grid(h, w)
    r2 = ((xx - w / 2) / w) ** 2 + ((yy - h / 2) / h) ** 2
    return 22 + 28 * np.exp(-4 * r2) + 10 * value_noise(rng, h, w, 30) + grain(rng, h, w, 3)


def add_cell(c: Canvas, rng, on_border: bool) -> None:
    """A cell and its nucleus; retried a few times to avoid piling onto other cells."""
    h, w = c.hw
    for _ in range(20):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        if on_border:
            cx = pick(rng, [rng.uniform(-8, 4), rng.uniform(w - 5, w + 8)])
        ax, ay, deg = rng.uniform(14, 30), rng.uniform(10, 20), rng.uniform(0, 180)
        cell = ellipse(c.hw, cx, cy, ax, ay, deg)
        if (c.label[cell] != Micro.BACKGROUND).mean() < 0.1:
            break
    c.paint(cell, Micro.CELL, cytoplasm_texture(rng, h, w, cx, cy, ax, ay, deg))
    a = np.deg2rad(deg)
    off = rng.uniform(-0.25, 0.25) * ax
    nx, ny = cx + off * np.cos(a), cy + off * np.sin(a)
    nucleus = ellipse(c.hw, nx, ny, 0.42 * ax, 0.55 * ay, deg + rng.uniform(-20, 20)) & cell
    c.paint(nucleus, Micro.NUCLEUS, nucleus_texture(rng, h, w))


def cytoplasm_texture(rng, h, w, cx, cy, ax, ay, deg) -> np.ndarray:
    """Brighter in the middle of the cell, dimmer at the rim, with fine mottling."""
    yy, xx = grid(h, w)
    a = np.deg2rad(deg)
    u = ((xx - cx) * np.cos(a) + (yy - cy) * np.sin(a)) / ax
    v = (-(xx - cx) * np.sin(a) + (yy - cy) * np.cos(a)) / ay
    rim = np.clip(u * u + v * v, 0, 1)
    return (90 + 30 * value_noise(rng, h, w, 4)) * (1.1 - 0.35 * rim) + grain(rng, h, w, 4)


def nucleus_texture(rng, h: int, w: int) -> np.ndarray:
    """Granular chromatin: small bright speckles."""
    return 165 + 60 * value_noise(rng, h, w, 2) + grain(rng, h, w, 5)


def add_scratch(c: Canvas, rng) -> None:
    """A bright scratch across the slide; annotators mark it void (255) instead of a class."""
    h, w = c.hw
    xs = np.linspace(-10, w + 10, 30)
    ys = rng.uniform(0.2, 0.8) * h + rng.uniform(-0.3, 0.3) * (xs - w / 2) + 4 * np.sin(xs / 25)
    region = stroke(c.hw, np.stack([xs, ys], axis=1), thickness=2)
    c.paint(region, VOID, 225 + grain(rng, h, w, 6))


# --- the pairs, their encoding and the README ------------------------------------------------


@dataclass(frozen=True)
class PairSpec:
    rel: str  # relative path without extension, the same under images/ and masks/
    ext: str  # image file extension; masks are always .png
    size: tuple[int, int]  # (width, height), the way image sizes are usually quoted
    void: bool = False  # draw thin strokes labelled 255 (ignore)

    @property
    def domain(self) -> str:
        return self.rel.split("/")[0]


SCENES: dict[str, Callable[[np.random.Generator, int, int, bool], Canvas]] = {
    "street": street_scene,
    "aerial": aerial_scene,
    "micro": micro_scene,
}

PAIRS = (
    PairSpec("street/frame_000", "png", (320, 240), void=True),
    PairSpec("street/frame_001", "png", (320, 240)),
    PairSpec("street/frame_002", "jpg", (320, 240)),
    PairSpec("street/frame_003", "png", (301, 203), void=True),
    PairSpec("aerial/north/tile_00", "png", (256, 256)),
    PairSpec("aerial/north/tile_01", "png", (256, 256)),
    PairSpec("aerial/south/tile_00", "jpg", (256, 256)),  # same stem as north/tile_00 on purpose
    PairSpec("aerial/south/tile_01", "png", (256, 256)),
    PairSpec("micro/cells_000", "png", (301, 203)),
    PairSpec("micro/cells_001", "png", (301, 203), void=True),
    PairSpec("micro/cells_002", "png", (256, 256)),
    PairSpec("micro/cells_003", "png", (320, 240)),
)


def render(spec: PairSpec) -> Canvas:
    # Seeded by name, not list position, so adding a pair leaves the others unchanged.
    rng = np.random.default_rng([SEED, zlib.crc32(spec.rel.encode())])
    w, h = spec.size
    return SCENES[spec.domain](rng, h, w, spec.void)


def encode_image(image: np.ndarray, ext: str) -> bytes:
    pixels = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    if pixels.ndim == 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(f".{ext}", pixels, JPEG_PARAMS if ext == "jpg" else PNG_PARAMS)
    assert ok, ext
    return buf.tobytes()


def encode_mask(label: np.ndarray) -> bytes:
    """A plain 8-bit grayscale PNG of class indices (not a palette PNG)."""
    ok, buf = cv2.imencode(".png", label, PNG_PARAMS)
    assert ok
    return buf.tobytes()


def write_pair(out: Path, spec: PairSpec) -> int:
    """Write one image/mask pair; returns the bytes written."""
    canvas = render(spec)
    files = {
        out / "images" / f"{spec.rel}.{spec.ext}": encode_image(canvas.image, spec.ext),
        out / "masks" / f"{spec.rel}.png": encode_mask(canvas.label),
    }
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return sum(len(data) for data in files.values())


README_HEAD = """\
# sample_data: a tiny synthetic segmentation dataset

Synthetic scenes drawn by `scripts/make_sample_data.py` (numpy + OpenCV, fixed seed), so that
segaug has a small, committed example dataset with no third-party licence. Regenerate it with

    python scripts/make_sample_data.py

Two runs give byte-identical files (with the same numpy and OpenCV versions). This README is
written by the same script, so edit the script, not the files.

Layout: `images/<folder>/<name>.png|.jpg` pairs with `masks/<folder>/<name>.png` (same relative
path without extension). Masks are single-channel 8-bit PNGs of class indices, not palette PNGs;
255 means void/ignore. Each object is rasterised once and that one region sets both the image and
the mask, so a class region in the mask covers exactly the object's pixels in the image (the JPEG
sources are slightly softened at edges by compression, as real JPEGs are).

Class values are per folder: 4 is `vehicle` in `street/` but `water` in `aerial/`. segaug does
not care (labels are just values to it), but do not train one model on all three folders.

What it exercises: nested folders (`aerial/north/tile_00` and `aerial/south/tile_00` share a
stem), RGB and grayscale images, PNG and JPEG (quality 90) sources, an odd size (301x203),
objects cut by every border, and thin 255 strokes.
"""


def class_table(domain: str) -> str:
    rows = [f"| {value} | {name} |" for value, name in enumerate(CLASSES[domain])]
    if domain in VOID_NOTE:
        rows.append(f"| {VOID} | void / ignore: {VOID_NOTE[domain]} |")
    return "\n".join(["| value | class |", "| --- | --- |", *rows])


def file_table() -> str:
    rows = ["| image | size (W x H) | channels | void strokes |", "| --- | --- | --- | --- |"]
    for spec in PAIRS:
        channels = "1 (gray)" if spec.domain == "micro" else "3 (RGB)"
        void = "yes" if spec.void else ""
        width, height = spec.size
        rows.append(f"| `images/{spec.rel}.{spec.ext}` | {width} x {height} | {channels} | {void} |")
    return "\n".join(rows)


def readme_text() -> str:
    parts = [README_HEAD, "## Classes\n"]
    for domain in CLASSES:
        kind = "grayscale" if domain == "micro" else "RGB"
        parts.append(f"`{domain}/` ({kind})\n\n{class_table(domain)}\n")
    parts.append(f"## Files\n\n{file_table()}\n")
    return "\n".join(parts)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Write the synthetic dataset in sample_data/.")
    parser.add_argument(
        "out",
        nargs="?",
        type=Path,
        help="output folder (default: %(default)s)",
        default=Path(__file__).resolve().parent.parent / "sample_data",
    )
    out = parser.parse_args(argv).out
    total = sum(write_pair(out, spec) for spec in PAIRS)
    (out / "README.md").write_bytes(readme_text().encode("utf-8"))
    gray = sum(spec.domain == "micro" for spec in PAIRS)
    jpeg = sum(spec.ext == "jpg" for spec in PAIRS)
    print(
        f"wrote {len(PAIRS)} pairs ({gray} grayscale, {jpeg} JPEG) to {out}: {total / 1024:.0f} KiB of images and masks"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
